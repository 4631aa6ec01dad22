/* libuv C peer of benchmarks/fd_wakeup.cpp: the same socket-pair ping-pong
 * with one uv_poll_t per end (what add_reader() is built on), so that the
 * difference is what the loop adds per wake-up.
 *
 *   poll_pingpong [N]        (default 200000 round trips) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static long n, trips;
static int fds[2];
static char c = 'x';

static void on_a(uv_poll_t* h, int status, int events) {
  (void)status;
  (void)events;
  if (read(fds[0], &c, 1) != 1) return;
  if (++trips == n) {
    uv_stop(h->loop);
    return;
  }
  if (write(fds[0], &c, 1) != 1) abort();
}

static void on_b(uv_poll_t* h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;
  if (read(fds[1], &c, 1) == 1 && write(fds[1], &c, 1) != 1) abort();
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  n = argc > 1 ? atol(argv[1]) : 200000;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 1;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_poll_t a, b;
  uv_poll_init(&loop, &a, fds[0]);
  uv_poll_init(&loop, &b, fds[1]);
  uv_poll_start(&a, UV_READABLE, on_a);
  uv_poll_start(&b, UV_READABLE, on_b);
  double t0 = now();
  if (write(fds[1], &c, 1) != 1) return 1;
  uv_run(&loop, UV_RUN_DEFAULT);
  double seconds = now() - t0;
  printf("RESULT peer=libuv_c workload=fd_wakeup n=%ld seconds=%.4f ops_per_s=%.0f ns_per_op=%.1f maxrss_kb=0 check=%ld\n",
         2 * n, seconds, 2 * n / seconds, seconds * 1e9 / (2 * n), trips);
  uv_close((uv_handle_t*)&a, NULL);
  uv_close((uv_handle_t*)&b, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
