// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: name resolution for the endpoints of base_events (streams,
// servers, datagrams).
#ifndef ASYNCIO_SRC_DETAIL_RESOLVE_HPP
#define ASYNCIO_SRC_DETAIL_RESOLVE_HPP

#include <asyncio/base_events.hpp>

#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

namespace asyncio::detail {

/// One address to connect to or bind (≙ one getaddrinfo tuple).
struct Resolved {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = 0;
  int type = 0;
  int proto = 0;
  std::string canonname;
  const sockaddr* sa() const noexcept { return reinterpret_cast<const sockaddr*>(&addr); }
  friend bool operator==(const Resolved& a, const Resolved& b) noexcept {
    return a.len == b.len && a.family == b.family && a.type == b.type && a.proto == b.proto &&
           std::memcmp(&a.addr, &b.addr, a.len) == 0;
  }
};

/// Resolves `host`:`port` (≙ _ensure_resolved): a numeric host without a
/// lookup, else getaddrinfo in libuv's thread pool; duplicates dropped.
/// `call` names the system call the addresses are for ("connect",
/// "bind", "getaddrinfo"), as CPython's OverflowError does.
Coroutine<std::vector<Resolved>> resolve(EventLoop& loop, std::string host, int port, AddrInfoOptions o,
                                         const char* call);

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_RESOLVE_HPP
