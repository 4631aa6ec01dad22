// asyncio-cpp: SPDX-License-Identifier: MIT
// Helpers for the raw-socket and sendfile tests: the HTTP server of
// CPython's test_utils.run_test_server (on our own start_server), and a
// count of the loop's poll handles.
#ifndef ASYNCIO_TESTS_SOCK_TEST_HPP
#define ASYNCIO_TESTS_SOCK_TEST_HPP

#include <asyncio/selector_events.hpp>

#include "net_test.hpp"

#include <uv.h>

#include <string>

namespace sock_test {

/// ≙ test_utils.run_test_server's WSGI app: "HTTP/1.0 200 OK", then "Test
/// message", or for POST /loop the request body streamed back.
inline asyncio::Coroutine<> http_app(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  std::string head = co_await reader.readuntil("\r\n\r\n");
  writer.write("HTTP/1.0 200 OK\r\nContent-type: text/plain\r\n\r\n");
  if (head.starts_with("POST /loop ")) {
    const auto at = head.find("Content-Length: ");
    std::size_t size = at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
    while (size) {
      std::string data = co_await reader.read(static_cast<std::ptrdiff_t>(std::min<std::size_t>(size, 0x10000)));
      if (data.empty()) break;
      size -= data.size();
      writer.write(data);
      co_await writer.drain();
    }
  } else {
    writer.write("Test message");
  }
  co_await writer.drain();
  writer.close();
  co_await writer.wait_closed();
}

/// The loop's open libuv poll handles (add_reader's watchers and servers'
/// listeners): what a finished wait must not leave behind.
inline int poll_handles(asyncio::EventLoop& loop) {
  int n = 0;
  uv_walk(
      asyncio::detail::uv_loop_of(loop),
      [](uv_handle_t* h, void* arg) {
        if (h->type == UV_POLL && !uv_is_closing(h)) ++*static_cast<int*>(arg);
      },
      &n);
  return n;
}

/// A connected pair of non-blocking Unix stream sockets.
inline std::pair<asyncio::Socket, asyncio::Socket> socketpair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
  return {asyncio::Socket::from_fd(fds[0]), asyncio::Socket::from_fd(fds[1])};
}

}  // namespace sock_test

#endif  // ASYNCIO_TESTS_SOCK_TEST_HPP
