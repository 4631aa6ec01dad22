// asyncio-cpp: SPDX-License-Identifier: MIT
// ≙ Lib/asyncio/trsock.py
#include <asyncio/trsock.hpp>

#include "detail/sockaddr.hpp"
#include "detail/uv_error.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

namespace asyncio {

namespace detail {

namespace {

// IPv4 text by hand, both ways: inet_ntop formats through sprintf and
// inet_pton is general, together ~1,700 instructions of the ~1,900 a
// datagram cost an echo endpoint (docs/performance.md, UDP echo).

/// "a.b.c.d" (≙ inet_ntop(AF_INET)).
void format_ipv4(const in_addr& a, std::string& out) {
  unsigned char b[4];
  std::memcpy(b, &a.s_addr, 4);
  char text[16];
  char* p = text;
  for (int i = 0; i < 4; ++i) {
    const unsigned v = b[i];
    if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
    if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
    *p++ = static_cast<char>('0' + v % 10);
    if (i < 3) *p++ = '.';
  }
  out.assign(text, static_cast<std::size_t>(p - text));
}

/// Exactly what inet_pton(AF_INET) accepts: four decimal parts of 0-255,
/// without leading zeros, separated by dots, nothing more.
bool parse_ipv4(std::string_view s, in_addr& out) {
  unsigned char b[4];
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part && (i >= s.size() || s[i++] != '.')) return false;
    const std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && i - start < 4 && s[i] >= '0' && s[i] <= '9') v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    const std::size_t digits = i - start;
    if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && s[start] == '0')) return false;
    b[part] = static_cast<unsigned char>(v);
  }
  if (i != s.size()) return false;
  std::memcpy(&out.s_addr, b, 4);
  return true;
}

}  // namespace

SocketAddress to_socket_address(const sockaddr* sa, socklen_t len) {
  SocketAddress out;
  if (!sa || len < static_cast<socklen_t>(sizeof(sa_family_t))) return out;
  out.family = sa->sa_family;
  char text[INET6_ADDRSTRLEN] = {};
  switch (sa->sa_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
      format_ipv4(in->sin_addr, out.host);
      out.port = ntohs(in->sin_port);
      break;
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      out.host = text;
      out.port = ntohs(in6->sin6_port);
      out.flowinfo = ntohl(in6->sin6_flowinfo);
      out.scope_id = in6->sin6_scope_id;
      break;
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
      const std::size_t n = static_cast<std::size_t>(len) - offsetof(sockaddr_un, sun_path);
      // A path is NUL-terminated; an abstract address (leading NUL) is not.
      if (n > 0 && un->sun_path[0] != '\0')
        out.host.assign(un->sun_path, strnlen(un->sun_path, n));
      else if (n > 0)
        out.host.assign(un->sun_path, n);
      break;
    }
    default:
      break;
  }
  return out;
}

std::uint16_t checked_port(int port, const char* call) {
  if (port < 0 || port > 65535) throw std::overflow_error(std::string(call) + "(): port must be 0-65535.");
  return static_cast<std::uint16_t>(port);
}

socklen_t unix_address(std::string_view path, sockaddr_un& out) {
  std::memset(&out, 0, sizeof out);
  out.sun_family = AF_UNIX;
  // As CPython: an empty path is the abstract case too (autobind).
  const bool abstract = path.empty() || path[0] == '\0';
  if (path.find('\0', abstract ? 1 : 0) != std::string_view::npos) throw std::invalid_argument("embedded null byte");
  // A path needs room for its terminating NUL; an abstract name does not.
  if (path.size() > sizeof out.sun_path - (abstract ? 0 : 1))
    throw OSError(std::make_error_code(std::errc::filename_too_long), "AF_UNIX path too long");
  std::memcpy(out.sun_path, path.data(), path.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
}

bool numeric_address(std::string_view host, std::uint16_t port, int family, sockaddr_storage& out, socklen_t& len) {
  std::memset(&out, 0, sizeof out);
  if (family == AF_UNSPEC || family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    if (parse_ipv4(host, in->sin_addr)) {
      in->sin_family = AF_INET;
      in->sin_port = htons(port);
      len = sizeof(sockaddr_in);
      return true;
    }
  }
  if (family == AF_UNSPEC || family == AF_INET6) {
    const std::string h(host);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (h.find('%') == std::string::npos && inet_pton(AF_INET6, h.c_str(), &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(port);
      len = sizeof(sockaddr_in6);
      return true;
    }
  }
  return false;
}

}  // namespace detail

std::string SocketAddress::repr() const {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on
  // chains of std::string operator+ (GCC PR 105329).
  std::string out;
  auto quoted = [&out](const std::string& s) {
    out += '\'';
    out += s;
    out += '\'';
  };
  switch (family) {
    case AF_INET:
    case AF_INET6:
      out += '(';
      quoted(host);
      out += ", ";
      out += std::to_string(port);
      if (family == AF_INET6) {
        out += ", ";
        out += std::to_string(flowinfo);
        out += ", ";
        out += std::to_string(scope_id);
      }
      out += ')';
      return out;
    case AF_UNIX:
      quoted(host);
      return out;
    default:
      return "None";
  }
}

namespace {

int int_option(int fd, int level, int optname) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, level, optname, &value, &len) != 0) detail::throw_errno(errno);
  return value;
}

template <class Get>
SocketAddress name_of(int fd, Get get) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (get(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) detail::throw_errno(errno);
  return detail::to_socket_address(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace

int TransportSocket::family() const { return int_option(fd_, SOL_SOCKET, SO_DOMAIN); }
int TransportSocket::type() const { return int_option(fd_, SOL_SOCKET, SO_TYPE); }
int TransportSocket::proto() const { return int_option(fd_, SOL_SOCKET, SO_PROTOCOL); }
int TransportSocket::getsockopt(int level, int optname) const { return int_option(fd_, level, optname); }

void TransportSocket::setsockopt(int level, int optname, int value) const {
  if (::setsockopt(fd_, level, optname, &value, sizeof value) != 0) detail::throw_errno(errno);
}

SocketAddress TransportSocket::getsockname() const { return name_of(fd_, ::getsockname); }
SocketAddress TransportSocket::getpeername() const { return name_of(fd_, ::getpeername); }

std::string TransportSocket::repr() const {
  std::string s = "<asyncio.TransportSocket fd=" + std::to_string(fd_);
  if (fd_ == -1) return s + ">";
  try {
    s += ", family=" + std::to_string(family()) + ", type=" + std::to_string(type()) +
         ", proto=" + std::to_string(proto());
    SocketAddress laddr = getsockname();
    if (laddr.family) s += ", laddr=" + laddr.repr();
  } catch (const std::system_error&) {
  }
  try {
    SocketAddress raddr = getpeername();
    if (raddr.family) s += ", raddr=" + raddr.repr();
  } catch (const std::system_error&) {
  }
  return s + ">";
}

}  // namespace asyncio
