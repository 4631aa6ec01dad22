// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: conversions between sockaddr and SocketAddress.
#ifndef ASYNCIO_SRC_DETAIL_SOCKADDR_HPP
#define ASYNCIO_SRC_DETAIL_SOCKADDR_HPP

#include <asyncio/trsock.hpp>

#include <sys/socket.h>

#include <string_view>

namespace asyncio::detail {

/// A sockaddr as Python shows it (an AF_UNIX address of length 0 is "").
SocketAddress to_socket_address(const sockaddr* sa, socklen_t len);

/// `host` as a numeric IPv4 or IPv6 address of `family` (AF_UNSPEC: either)
/// with `port`, without a DNS lookup (≙ base_events._ipaddr_info). False
/// when `host` is not numeric (or not of that family).
bool numeric_address(std::string_view host, int port, int family, sockaddr_storage& out, socklen_t& len);

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_SOCKADDR_HPP
