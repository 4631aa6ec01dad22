// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: conversions between sockaddr and SocketAddress.
#ifndef ASYNCIO_SRC_DETAIL_SOCKADDR_HPP
#define ASYNCIO_SRC_DETAIL_SOCKADDR_HPP

#include <asyncio/trsock.hpp>

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>

#include <string_view>

namespace asyncio::detail {

/// A sockaddr as Python shows it (an AF_UNIX address of length 0 is "").
SocketAddress to_socket_address(const sockaddr* sa, socklen_t len);

/// `port` as the 16 bits a sockaddr holds. Throws std::overflow_error
/// "<call>(): port must be 0-65535." (CPython's OverflowError) for any other
/// value: narrowed silently, P + 65536 would reach port P.
std::uint16_t checked_port(int port, const char* call);

/// `host` as a numeric IPv4 or IPv6 address of `family` (AF_UNSPEC: either)
/// with `port`, without a DNS lookup (≙ base_events._ipaddr_info). False
/// when `host` is not numeric (or not of that family).
bool numeric_address(std::string_view host, std::uint16_t port, int family, sockaddr_storage& out, socklen_t& len);

/// The sockaddr of the Unix socket `path`, with its length (≙ the AF_UNIX
/// case of CPython's getsockaddrarg). A leading NUL is Linux's abstract
/// namespace (and an empty path autobinds there). Throws OSError(ENAMETOOLONG) "AF_UNIX path too long" when it
/// does not fit (libuv would truncate it and reach another socket), and
/// std::invalid_argument("embedded null byte") for a NUL further on (which
/// the kernel would take as the end of the path).
socklen_t unix_address(std::string_view path, sockaddr_un& out);

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_SOCKADDR_HPP
