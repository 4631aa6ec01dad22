// asyncio-cpp: SPDX-License-Identifier: MIT
// add_reader() wake-up cost (benchmarks/peers/fd_wakeup.sh runs it beside
// libuv C's uv_poll, benchmarks/peers/libuv/poll_pingpong.c): one byte
// goes back and forth over a socket pair N times, each end a reader that
// reads it and writes it back, so every wake-up is one epoll_wait, one
// read() and one write(), plus the loop's own work.
//
//   asyncio_fd_wakeup [N]        (default 200000 round trips)
#include <asyncio/asyncio.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include "result.hpp"

#include <cstdlib>

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 200000;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 1;
  asyncio::EventLoop loop;
  long trips = 0;
  char c = 'x';
  loop.add_reader(fds[0], [&] {
    if (::read(fds[0], &c, 1) != 1) return;
    if (++trips == n) return loop.stop();
    (void)!::write(fds[0], &c, 1);
  });
  loop.add_reader(fds[1], [&] {
    if (::read(fds[1], &c, 1) == 1) (void)!::write(fds[1], &c, 1);
  });
  const double t0 = bench::now_s();
  (void)!::write(fds[1], &c, 1);
  loop.run_forever();
  const double seconds = bench::now_s() - t0;
  loop.remove_reader(fds[0]);
  loop.remove_reader(fds[1]);
  ::close(fds[0]);
  ::close(fds[1]);
  // Two wake-ups per round trip.
  bench::print_result("asyncio_cpp", "fd_wakeup", 2 * n, seconds, trips);
  return 0;
}
