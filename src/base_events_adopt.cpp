// asyncio-cpp: SPDX-License-Identifier: MIT
// Transports over descriptors made elsewhere: `sock=` of create_connection
// and create_unix_connection, connect_accepted_socket, connect_read_pipe and
// connect_write_pipe. ≙ the sock branches of BaseEventLoop.create_connection
// / _UnixSelectorEventLoop.create_unix_connection, connect_accepted_socket,
// and _UnixReadPipeTransport / _UnixWritePipeTransport's checks.
#include <asyncio/base_events.hpp>

#include "detail/adopt.hpp"
#include "detail/sslproto.hpp"
#include "detail/stream_transport.hpp"
#include "detail/uv_error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace asyncio::detail {

int socket_option(int fd, int name) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, name, &value, &len) != 0) throw_errno(errno);
  return value;
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno(errno);
}

void check_stream_socket(int fd, bool unix_only) {
  const bool stream = socket_option(fd, SO_TYPE) == SOCK_STREAM;
  if (unix_only && (!stream || socket_option(fd, SO_DOMAIN) != AF_UNIX))
    throw std::invalid_argument("A UNIX Domain Stream Socket was expected, got " + TransportSocket(fd).repr());
  if (!stream) throw std::invalid_argument("A Stream Socket was expected, got " + TransportSocket(fd).repr());
}

namespace {

/// A transport of `kind` over `fd`, which it owns from now on (closed on
/// failure too).
std::shared_ptr<StreamTransport> open_transport(EventLoop& loop, StreamTransport::Kind kind, int fd) {
  std::shared_ptr<StreamTransport> t;
  try {
    t = StreamTransport::make(loop, kind);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (int rc = t->open(fd); rc < 0) {
    ::close(fd);
    t->discard();
    throw_os_error(rc);
  }
  return t;
}

}  // namespace

Coroutine<ConnectionResult> adopt_connection(EventLoop& loop, ProtocolFactory factory, int sock, Adopt what,
                                             ConnectionOptions options) {
  if (sock < 0) {
    throw std::invalid_argument(what == Adopt::unix_connection ? "no path and sock were specified"
                                                               : "host and port was not specified and no sock specified");
  }
  std::optional<TlsParams> tls = adopted_tls(options, what);  // TLS (sslproto.cpp)
  check_stream_socket(sock, what == Adopt::unix_connection);
  set_nonblocking(sock);
  // The caller's until here: a factory that fails leaves it open.
  std::shared_ptr<Protocol> protocol = make_protocol(factory);
  const bool is_unix = socket_option(sock, SO_DOMAIN) == AF_UNIX;
  auto t = open_transport(loop, is_unix ? StreamTransport::Kind::pipe : StreamTransport::Kind::tcp, sock);
  Coroutine<ConnectionResult> made = wrap_ssl(loop, std::move(t), std::move(protocol), std::move(tls));
  co_return co_await made;
}

Coroutine<ConnectionResult> connect_pipe(EventLoop& loop, ProtocolFactory factory, int fd, PipeEnd end) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno(errno);
  if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISCHR(st.st_mode))
    throw std::invalid_argument("Pipe transport is for pipes/sockets only.");
  set_nonblocking(fd);
  std::shared_ptr<Protocol> protocol = make_protocol(factory);
  auto t = open_transport(loop, StreamTransport::Kind::pipe, fd);
  if (end == PipeEnd::read)
    t->set_read_pipe();
  else
    t->set_write_pipe();
  std::shared_ptr<Transport> transport = connect_protocol(t, protocol);
  co_return ConnectionResult{std::move(transport), std::move(protocol)};
}

}  // namespace asyncio::detail
