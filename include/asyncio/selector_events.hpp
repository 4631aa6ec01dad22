// asyncio-cpp: SPDX-License-Identifier: MIT
// Raw-socket coroutines and sendfile. ≙ the sock_*() methods of
// BaseSelectorEventLoop (Lib/asyncio/selector_events.py) and sendfile() /
// sock_sendfile() of BaseEventLoop (base_events.py, unix_events.py).
//
// CPython's `await loop.sock_recv(sock, 1024)` is written
// `co_await asyncio::sock_recv(loop, sock.fileno(), 1024)`: free functions
// taking the loop and a descriptor, as create_connection() does. The
// descriptor must be non-blocking; it stays the caller's. add_reader(),
// add_writer(), wait_readable() and wait_writable() are EventLoop members
// (events.hpp).
#ifndef ASYNCIO_SELECTOR_EVENTS_HPP
#define ASYNCIO_SELECTOR_EVENTS_HPP

#include <asyncio/base_events.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/transports.hpp>
#include <asyncio/trsock.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace asyncio {

// Every coroutine below first checks the descriptor (CPython checks only
// in debug mode; a blocking socket would stall the loop):
// std::invalid_argument("the socket must be non-blocking") for a blocking
// one, std::system_error ("[Errno 9] Bad file descriptor") for a closed
// one. Each waits with wait_readable()/wait_writable(), so two coroutines
// waiting in the same direction on one descriptor raise RuntimeError
// ("File descriptor N is already waited for by another coroutine") where
// CPython's second one silently takes the first one's place and the first
// never returns. Cancelling any of them leaves nothing registered. Errors
// of the system calls are std::system_error with their errno, as Python's
// OSError ("[Errno 104] Connection reset by peer").

/// Receives up to `n` bytes (≙ loop.sock_recv); "" at EOF.
Coroutine<std::string> sock_recv(EventLoop& loop, int sock, std::size_t n);
/// Receives into `buf` (≙ loop.sock_recv_into); the number of bytes, 0 at
/// EOF. `buf` must stay valid until the coroutine returns.
Coroutine<std::size_t> sock_recv_into(EventLoop& loop, int sock, std::span<char> buf);
/// Receives one datagram of up to `bufsize` bytes and its sender
/// (≙ loop.sock_recvfrom).
Coroutine<std::pair<std::string, SocketAddress>> sock_recvfrom(EventLoop& loop, int sock, std::size_t bufsize);
/// Receives one datagram into `buf` (at most `nbytes` bytes, 0: all of
/// `buf`) (≙ loop.sock_recvfrom_into). std::invalid_argument("nbytes is
/// greater than the length of the buffer").
Coroutine<std::pair<std::size_t, SocketAddress>> sock_recvfrom_into(EventLoop& loop, int sock, std::span<char> buf,
                                                                    std::size_t nbytes = 0);
/// Sends all of `data` (≙ loop.sock_sendall), waiting for room as often
/// as needed. On an error nothing tells how much was sent, as in CPython.
Coroutine<> sock_sendall(EventLoop& loop, int sock, std::string_view data);
/// Sends one datagram to `address` (≙ loop.sock_sendto): `{host, port}`
/// for IP (a name is resolved as getaddrinfo() does), `{path}` for
/// AF_UNIX. Returns the number of bytes sent.
Coroutine<std::size_t> sock_sendto(EventLoop& loop, int sock, std::string_view data, HostPort address);
/// Connects `sock` to `address` (≙ loop.sock_connect): an IP address is
/// resolved first for the socket's family, type and protocol (a numeric
/// host without a lookup), and the first result is used; `{path}` for
/// AF_UNIX. std::system_error("[Errno 111] Connect call failed
/// ('127.0.0.1', 1)") when the connection fails after waiting, the plain
/// error ("[Errno 111] Connection refused") when connect(2) fails at once.
Coroutine<> sock_connect(EventLoop& loop, int sock, HostPort address);
/// Accepts a connection on the listening `sock` (≙ loop.sock_accept):
/// the new socket (non-blocking, close-on-exec) and the peer's address.
Coroutine<std::pair<Socket, SocketAddress>> sock_accept(EventLoop& loop, int sock);

/// What sendfile() and sock_sendfile() take beyond the file.
struct SendfileOptions {
  /// Where to start in the file; the file position is left after what was
  /// sent (as CPython's file.seek()).
  std::int64_t offset = 0;
  /// How many bytes at most; none: up to the end of the file.
  std::optional<std::uint64_t> count = {};
  /// When the zero-copy path cannot be used: a read/write loop (true) or
  /// SendfileNotAvailableError (false).
  bool fallback = true;
};

/// Sends the regular file `file` over the stream socket `sock` with
/// sendfile(2) (≙ loop.sock_sendfile); the number of bytes sent. Where
/// sendfile(2) cannot be used at all (not a regular file, not a socket it
/// supports) a read()/send() loop does the work, or
/// SendfileNotAvailableError("os.sendfile call failed") with `fallback =
/// false`. std::invalid_argument("only SOCK_STREAM type sockets are
/// supported"), ("offset must be a non-negative integer (got -1)"),
/// ("count must be a positive integer (got 0)").
Coroutine<std::uint64_t> sock_sendfile(EventLoop& loop, int sock, int file, SendfileOptions options = {});

/// Sends the file through `transport` (≙ loop.sendfile): the transport
/// stops reading, its write buffer is drained, then sendfile(2) writes
/// straight from the file to its socket, and reading resumes. A transport
/// that cannot (a pipe; TLS later) is served by a read()/write() loop
/// through its write() and drain (with `fallback = false`:
/// SendfileNotAvailableError "fallback is disabled and native sendfile is
/// not supported for transport <...>"). RuntimeError("Transport is
/// closing") for a closing transport; transport.write() raises
/// RuntimeError("Cannot call write() when loop.sendfile() is not
/// finished") meanwhile.
Coroutine<std::uint64_t> sendfile(EventLoop& loop, const std::shared_ptr<Transport>& transport, int file,
                                  SendfileOptions options = {});

}  // namespace asyncio

#endif  // ASYNCIO_SELECTOR_EVENTS_HPP
