// asyncio-cpp: SPDX-License-Identifier: MIT
// CPython's streams example "Register an open socket to wait for data using
// streams": one end of a socket pair becomes a StreamReader/StreamWriter
// through open_connection({.sock = fd}), the other is written by hand.
// The test example.socketpair compares its output with socketpair.py's.
#include <asyncio/asyncio.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

asyncio::Coroutine<> wait_for_data() {
  // Get a reference to the current event loop because
  // we want to access low-level APIs.
  asyncio::EventLoop& loop = asyncio::get_running_loop();

  // Create a pair of connected sockets.
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    std::perror("socketpair");
    co_return;
  }
  const int rsock = pair[0], wsock = pair[1];

  // Register the open socket to wait for data (the streams own it now).
  auto [reader, writer] = co_await asyncio::open_connection({.sock = rsock});

  // Simulate the reception of data from the network
  loop.call_soon([wsock] { (void)::send(wsock, "abc", 3, 0); });

  // Wait for data
  std::string data = co_await reader.read(100);

  // Got data, we are done: close the socket
  std::printf("Received: %s\n", data.c_str());
  writer.close();
  co_await writer.wait_closed();

  // Close the second socket
  ::close(wsock);
}

int main() { return asyncio::run_main(wait_for_data()); }
