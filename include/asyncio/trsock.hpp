// asyncio-cpp: SPDX-License-Identifier: MIT
// Socket addresses, and the socket behind a transport or a server.
// ≙ Lib/asyncio/trsock.py (TransportSocket)
#ifndef ASYNCIO_TRSOCK_HPP
#define ASYNCIO_TRSOCK_HPP

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace asyncio {

/// A socket address, as Python's socket module gives one: `(host, port)`
/// for AF_INET, `(host, port, flowinfo, scope_id)` for AF_INET6, a path
/// for AF_UNIX. What get_extra_info("peername") / ("sockname") and
/// TransportSocket::getsockname() return.
struct SocketAddress {
  int family = 0;               ///< AF_INET, AF_INET6, AF_UNIX; 0 for none
  std::string host;             ///< the numeric address; for AF_UNIX, the path
  int port = 0;                 ///< 0 for AF_UNIX
  std::uint32_t flowinfo = 0;   ///< AF_INET6 only
  std::uint32_t scope_id = 0;   ///< AF_INET6 only

  /// Python's repr: `('127.0.0.1', 8888)`, `('::1', 8888, 0, 0)`,
  /// `'/tmp/sock'` (AF_UNIX).
  std::string repr() const;
  friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
};

/// The socket of a transport or a server (≙ asyncio.TransportSocket): the
/// descriptor and the harmless socket operations. It does not own the
/// descriptor; it is valid while the transport or server is open. The
/// operations throw std::system_error as Python's raise OSError.
class TransportSocket {
 public:
  explicit TransportSocket(int fd = -1) noexcept : fd_(fd) {}

  /// The descriptor; -1 once the transport is closed.
  int fileno() const noexcept { return fd_; }
  /// SO_DOMAIN, SO_TYPE, SO_PROTOCOL.
  int family() const;
  int type() const;
  int proto() const;
  SocketAddress getsockname() const;
  SocketAddress getpeername() const;
  /// setsockopt with an int value, e.g. `(IPPROTO_TCP, TCP_NODELAY, 1)`.
  void setsockopt(int level, int optname, int value) const;
  /// getsockopt of an int value.
  int getsockopt(int level, int optname) const;
  /// `<asyncio.TransportSocket fd=6, family=2, type=1, proto=6,
  /// laddr=('127.0.0.1', 8888)>`, as Python prints it.
  std::string repr() const;

 private:
  int fd_;
};

/// An owned socket descriptor with the few operations of Python's
/// socket.socket that raw-socket code needs around the sock_*()
/// coroutines (selector_events.hpp): make, bind, listen, setblocking,
/// close. Move-only; the destructor closes. Errors are std::system_error,
/// as Python's OSError.
class Socket {
 public:
  /// socket(family, type, proto), close-on-exec (≙ socket.socket()).
  explicit Socket(int family = AF_INET, int type = SOCK_STREAM, int proto = 0);
  /// Takes ownership of the descriptor `fd` (≙ socket.socket(fileno=fd)).
  static Socket from_fd(int fd) noexcept { return Socket(fd, Adopt{}); }
  Socket(Socket&& o) noexcept : fd_(o.detach()) {}
  Socket& operator=(Socket&& o) noexcept;
  ~Socket() { close(); }

  /// The descriptor; -1 once closed or detached.
  int fileno() const noexcept { return fd_; }
  /// O_NONBLOCK off (true) or on (false) (≙ sock.setblocking()).
  void setblocking(bool flag) const;
  bool getblocking() const;
  /// Binds to a numeric `host` (empty: any address) and `port` for IP
  /// sockets, to the path `host` for AF_UNIX (≙ sock.bind(address)).
  /// std::invalid_argument("bind(): a numeric host was expected, got
  /// 'name'") for a name: Python would resolve it, blocking.
  void bind(std::string_view host, int port = 0) const;
  /// listen(2) (≙ sock.listen()).
  void listen(int backlog = 128) const;
  SocketAddress getsockname() const;
  /// shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR.
  void shutdown(int how) const;
  /// Closes the descriptor (once).
  void close() noexcept;
  /// Gives the descriptor up without closing it.
  int detach() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  struct Adopt {};
  Socket(int fd, Adopt) noexcept : fd_(fd) {}
  int fd_;
};

}  // namespace asyncio

#endif  // ASYNCIO_TRSOCK_HPP
