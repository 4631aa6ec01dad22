// tls_echo_client.c -- the tcp_echo load generator (the bench kit's
// tools/echo_client.c) over TLS, or over plain TCP with --plain: C
// connections to HOST:PORT, each sending a MSG-byte message and waiting for
// it to come back before the next one. The TLS and the plain runs use this
// one program and the same loop (one read and one write system call per
// message either way: OpenSSL reads ahead, so a record comes in with one
// read()), so a TLS/plain ratio compares the servers, not two clients of
// different weight sharing the cores with them. TLS 1.3 with
// TLS_AES_128_GCM_SHA256, the certificate not verified (a benchmark, on
// loopback). Single thread, level-triggered epoll; the connections (and
// their handshakes) are made before the measured window.
//
// usage: tls_echo_client [--plain] HOST PORT CONNS MSG_BYTES WARMUP_S DURATION_S [SERVER_PID]
//        tls_echo_client --handshakes HOST PORT SECONDS [SERVER_PID]
// Prints one line:
//   RESULT workload=tls_echo|tcp_echo conns=.. msg_bytes=.. seconds=.. messages=.. msgs_per_s=..
//          client_cpu=.. server_cpu=.. server_ns_per_msg=.. server_usr_ns_per_msg=.. server_sys_ns_per_msg=..
//   RESULT workload=tls_handshake seconds=.. handshakes=.. per_s=.. server_cpu=.. server_us_per_handshake=..
// client_cpu / server_cpu: CPU seconds per wall second in the measured
// window; the server's figures (user + kernel time from /proc/PID/stat,
// 10 ms ticks) need SERVER_PID.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* User and system CPU seconds of PID (from /proc/PID/stat); 0 without one. */
static void proc_cpu_s(int pid, double* usr, double* sys) {
  *usr = *sys = 0;
  if (pid <= 0) return;
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char* p = strrchr(buf, ')'); /* skip "pid (comm)" */
  if (!p) return;
  unsigned long ut = 0, st = 0;
  /* fields after ')': state(3) ... utime(14) stime(15) */
  sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
  double tck = (double)sysconf(_SC_CLK_TCK);
  *usr = ut / tck;
  *sys = st / tck;
}

static SSL_CTX* client_ctx(void) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_read_ahead(ctx, 1); /* a record in one read(), as the plain client's one read() */
  return ctx;
}

/* A blocking TCP connection (retried for 10 s while the server starts), or -1. */
static int tcp_connect(const char* host, int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  uint64_t t0 = now_ns();
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr*)&a, sizeof a) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    close(fd);
    if (now_ns() - t0 > 10000000000ull) return -1;
    usleep(20000);
  }
}

/* A connection with a finished handshake, or NULL. */
static SSL* tls_connect(SSL_CTX* ctx, const char* host, int port) {
  int fd = tcp_connect(host, port);
  if (fd < 0) return NULL;
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (SSL_connect(ssl) != 1) { SSL_free(ssl); close(fd); return NULL; }
  return ssl;
}

static int handshakes(const char* host, int port, double seconds, int server_pid) {
  SSL_CTX* ctx = client_ctx();
  double usr0, sys0, usr1, sys1;
  proc_cpu_s(server_pid, &usr0, &sys0);
  uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
  long n = 0;
  while (now_ns() < end) {
    SSL* ssl = tls_connect(ctx, host, port);
    if (!ssl) { fprintf(stderr, "handshake failed\n"); return 1; }
    int fd = SSL_get_fd(ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    ++n;
  }
  double s = (now_ns() - start) / 1e9;
  proc_cpu_s(server_pid, &usr1, &sys1);
  double cpu = usr1 - usr0 + sys1 - sys0;
  printf("RESULT workload=tls_handshake seconds=%.3f handshakes=%ld per_s=%.0f server_cpu=%.2f "
         "server_us_per_handshake=%.0f\n",
         s, n, n / s, server_pid > 0 ? cpu / s : -1.0, server_pid > 0 && n ? cpu * 1e6 / (double)n : -1.0);
  return 0;
}

struct conn { int fd; SSL* ssl; int got; };

static void send_msg(struct conn* c, const char* msg, int len) {
  c->got = 0;
  /* 100 bytes into an empty socket: never short (a blocking write for TLS would be) */
  int w = c->ssl ? SSL_write(c->ssl, msg, len) : (int)write(c->fd, msg, (size_t)len);
  if (w != len) { fprintf(stderr, "short write (%d)\n", w); exit(1); }
}

/* Bytes read from C (> 0), 0 when nothing is there yet; exits on EOF or error. */
static int recv_some(struct conn* c, char* buf, int cap) {
  if (!c->ssl) {
    ssize_t r = read(c->fd, buf, (size_t)cap);
    if (r > 0) return (int)r;
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    fprintf(stderr, r == 0 ? "server closed the connection\n" : "read failed\n");
    exit(3);
  }
  int r = SSL_read(c->ssl, buf, cap);
  if (r > 0) return r;
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ) return 0;
  fprintf(stderr, "SSL_read failed (%d)\n", e);
  exit(3);
}

int main(int argc, char** argv) {
  if (argc >= 5 && strcmp(argv[1], "--handshakes") == 0)
    return handshakes(argv[2], atoi(argv[3]), atof(argv[4]), argc > 5 ? atoi(argv[5]) : 0);
  int plain = argc > 1 && strcmp(argv[1], "--plain") == 0;
  argv += plain, argc -= plain;
  if (argc < 7) {
    fprintf(stderr, "usage: tls_echo_client [--plain] HOST PORT CONNS MSG_BYTES WARMUP_S DURATION_S [SERVER_PID]\n"
                    "       tls_echo_client --handshakes HOST PORT SECONDS [SERVER_PID]\n");
    return 2;
  }
  const char* host = argv[1];
  int port = atoi(argv[2]), nconn = atoi(argv[3]), msglen = atoi(argv[4]);
  double warmup = atof(argv[5]), duration = atof(argv[6]);
  int server_pid = argc > 7 ? atoi(argv[7]) : 0;
  SSL_CTX* ctx = plain ? NULL : client_ctx();
  struct conn* conns = calloc((size_t)nconn, sizeof *conns);
  char* msg = malloc((size_t)msglen);
  static char buf[65536];
  memset(msg, 'x', (size_t)msglen);
  int ep = epoll_create1(0);
  for (int i = 0; i < nconn; ++i) {
    if (plain) {
      conns[i].fd = tcp_connect(host, port);
    } else if ((conns[i].ssl = tls_connect(ctx, host, port))) {
      conns[i].fd = SSL_get_fd(conns[i].ssl);
    } else {
      conns[i].fd = -1;
    }
    if (conns[i].fd < 0) { fprintf(stderr, "connect/handshake failed\n"); return 1; }
    fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  for (int i = 0; i < nconn; ++i) send_msg(&conns[i], msg, msglen);
  uint64_t t0 = now_ns(), measure_from = t0 + (uint64_t)(warmup * 1e9);
  uint64_t end = measure_from + (uint64_t)(duration * 1e9), measured_start = 0;
  double c_cpu0 = 0, s_usr0 = 0, s_sys0 = 0;
  long messages = 0;
  struct epoll_event evs[256];
  for (;;) {
    uint64_t t = now_ns();
    if (!measured_start && t >= measure_from) {
      measured_start = t;
      messages = 0;
      c_cpu0 = self_cpu_s();
      proc_cpu_s(server_pid, &s_usr0, &s_sys0);
    }
    if (t >= end) break;
    int n = epoll_wait(ep, evs, 256, 100);
    for (int k = 0; k < n; ++k) {
      struct conn* c = &conns[evs[k].data.u32];
      do {
        int r = recv_some(c, buf, sizeof buf);
        if (r == 0) break;
        c->got += r;
        if (c->got > msglen) { fprintf(stderr, "protocol error: got %d > %d\n", c->got, msglen); return 3; }
        if (c->got == msglen) {
          ++messages;
          send_msg(c, msg, msglen);
        }
      } while (c->ssl && SSL_has_pending(c->ssl));  /* records already read ahead */
    }
  }
  double secs = (now_ns() - measured_start) / 1e9;
  double c_cpu = self_cpu_s() - c_cpu0, s_usr1, s_sys1;
  proc_cpu_s(server_pid, &s_usr1, &s_sys1);
  double s_usr = s_usr1 - s_usr0, s_sys = s_sys1 - s_sys0, per = messages ? 1e9 / (double)messages : 0;
  printf("RESULT workload=%s conns=%d msg_bytes=%d seconds=%.3f messages=%ld msgs_per_s=%.0f client_cpu=%.2f "
         "server_cpu=%.2f server_ns_per_msg=%.0f server_usr_ns_per_msg=%.0f server_sys_ns_per_msg=%.0f\n",
         plain ? "tcp_echo" : "tls_echo", nconn, msglen, secs, messages, messages / secs, c_cpu / secs,
         server_pid > 0 ? (s_usr + s_sys) / secs : -1.0, server_pid > 0 ? (s_usr + s_sys) * per : -1.0,
         server_pid > 0 ? s_usr * per : -1.0, server_pid > 0 ? s_sys * per : -1.0);
  return 0;
}
