// asyncio-cpp: SPDX-License-Identifier: MIT
// The owned socket of trsock.hpp: the few socket.socket operations that
// raw-socket code needs beside the sock_*() coroutines.
#include <asyncio/trsock.hpp>

#include "detail/sockaddr.hpp"
#include "detail/uv_error.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace asyncio {

namespace {

int socket_family(int fd) {
  int family = 0;
  socklen_t len = sizeof family;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0) detail::throw_errno(errno);
  return family;
}

}  // namespace

Socket::Socket(int family, int type, int proto) : fd_(::socket(family, type | SOCK_CLOEXEC, proto)) {
  if (fd_ < 0) detail::throw_errno(errno);
}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.detach();
  }
  return *this;
}

void Socket::close() noexcept {
  if (fd_ >= 0) ::close(detach());
}

void Socket::setblocking(bool flag) const {
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) detail::throw_errno(errno);
  const int want = flag ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
  if (want != flags && ::fcntl(fd_, F_SETFL, want) != 0) detail::throw_errno(errno);
}

bool Socket::getblocking() const {
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) detail::throw_errno(errno);
  return !(flags & O_NONBLOCK);
}

void Socket::bind(std::string_view host, int port) const {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const int family = socket_family(fd_);
  if (family == AF_UNIX) {
    len = detail::unix_address(host, reinterpret_cast<sockaddr_un&>(ss));
  } else {
    const std::uint16_t p = detail::checked_port(port, "bind");
    if (host.empty()) host = family == AF_INET6 ? "::" : "0.0.0.0";
    if (!detail::numeric_address(host, p, family, ss, len))
      throw std::invalid_argument("bind(): a numeric host was expected, got '" + std::string(host) + "'");
  }
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&ss), len) != 0) detail::throw_errno(errno);
}

void Socket::listen(int backlog) const {
  if (::listen(fd_, backlog) != 0) detail::throw_errno(errno);
}

SocketAddress Socket::getsockname() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) detail::throw_errno(errno);
  return detail::to_socket_address(reinterpret_cast<const sockaddr*>(&ss), len);
}

void Socket::shutdown(int how) const {
  if (::shutdown(fd_, how) != 0) detail::throw_errno(errno);
}

}  // namespace asyncio
