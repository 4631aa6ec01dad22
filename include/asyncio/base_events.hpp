// asyncio-cpp: SPDX-License-Identifier: MIT
// The network methods of the event loop: DNS, create_connection,
// create_server and the Server they return. ≙ the BaseEventLoop methods and
// the Server class of Lib/asyncio/base_events.py
//
// CPython's `loop.create_connection(...)` is written
// `asyncio::create_connection(loop, ...)` here: free functions taking the
// loop, so that the loop itself stays free of I/O code.
#ifndef ASYNCIO_BASE_EVENTS_HPP
#define ASYNCIO_BASE_EVENTS_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/protocols.hpp>
#include <asyncio/transports.hpp>
#include <asyncio/trsock.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

namespace ssl {
class SSLContext;  // <asyncio/ssl.hpp>
}

// The option structs below stay trivially destructible on purpose: GCC 12
// destroys a braced temporary with non-trivial members inside a `co_await`
// expression too early (a use-after-free, GCC PR 101367), and
// `co_await open_connection(host, port, {.limit = 1024})` is how they are
// meant to be used.

/// Keyword arguments of getaddrinfo() (the hints).
struct AddrInfoOptions {
  int family = AF_UNSPEC;
  int type = 0;
  int proto = 0;
  int flags = 0;
};

/// One result of getaddrinfo(): `(family, type, proto, canonname, sockaddr)`.
struct AddrInfo {
  int family = 0;
  int type = 0;
  int proto = 0;
  std::string canonname;
  SocketAddress address;
};

/// Keyword arguments of create_connection() and open_connection().
struct ConnectionOptions {
  int family = AF_UNSPEC;  ///< restrict the address family
  int proto = 0;
  int flags = 0;           ///< getaddrinfo flags
  /// `local_addr=(host, port)`: bind the socket before connecting
  /// (empty host: any address). Unused when local_host is empty and
  /// local_port is 0.
  std::string_view local_host = {};
  int local_port = 0;
  /// Happy Eyeballs (RFC 8305, 3.8): when an address has not connected
  /// after this many seconds (or has failed), the next one is tried in
  /// parallel; the first to connect wins and the others are cancelled and
  /// closed. nullopt (None): one address after another. RFC 8305
  /// recommends 0.25.
  std::optional<double> happy_eyeballs_delay = std::nullopt;
  /// Reorders the addresses by family (3.8): `interleave = 1` alternates
  /// the families, `n` takes n - 1 of the first family first. nullopt:
  /// 1 with happy_eyeballs_delay, else 0 (getaddrinfo's order).
  std::optional<int> interleave = std::nullopt;
  /// When every address fails (3.12): ExceptionGroup("create_connection
  /// failed", every error) instead of the one error or "Multiple
  /// exceptions: ...".
  bool all_errors = false;
  /// open_connection() only: the StreamReader's limit (64 KiB).
  std::ptrdiff_t limit = 1 << 16;
  /// An already connected stream socket to use (`sock=`), with no host
  /// and port: the transport owns it once made.
  int sock = -1;
  /// TLS (≙ ssl=SSLContext, docs/ssl.md): the context the connection
  /// uses; null (the default) for plain TCP. It must outlive the call only.
  const ssl::SSLContext* ssl = nullptr;
  /// ≙ server_hostname=: the name the server's certificate must match and
  /// the SNI sent; nullopt (None) is the host connected to, "" checks no
  /// name (then the context must not check_hostname()).
  std::optional<std::string_view> server_hostname = std::nullopt;
  /// ≙ ssl_handshake_timeout= (seconds; None: 60) and ssl_shutdown_timeout=
  /// (None: 30). Only with `ssl`.
  std::optional<double> ssl_handshake_timeout = std::nullopt;
  std::optional<double> ssl_shutdown_timeout = std::nullopt;
};

/// Keyword arguments of create_server() and start_server().
struct ServerOptions {
  int family = AF_UNSPEC;
  int flags = AI_PASSIVE;  ///< getaddrinfo flags
  int backlog = 100;
  /// SO_REUSEADDR; CPython's default on POSIX is true.
  bool reuse_address = true;
  /// SO_REUSEPORT: several servers (one loop per thread) on one port.
  bool reuse_port = false;
  /// SO_KEEPALIVE on the listening sockets, which the accepted connections
  /// inherit (3.13): the kernel probes idle peers.
  bool keep_alive = false;
  /// When false, the server is bound but accepts nothing until
  /// start_serving() or serve_forever().
  bool start_serving = true;
  /// Unix servers: remove the socket file when the server is closed (3.13).
  bool cleanup_socket = true;
  /// start_server() only: each StreamReader's limit (64 KiB).
  std::ptrdiff_t limit = 1 << 16;
  /// An already bound stream socket to listen on (`sock=`: an inherited
  /// listener, systemd socket activation), with no host and port: the
  /// server owns it once made.
  int sock = -1;
  /// TLS (≙ ssl=SSLContext, docs/ssl.md): the context the connections accepted
  /// uses; null (the default) for plain TCP. It must outlive the call only.
  const ssl::SSLContext* ssl = nullptr;
  /// ≙ ssl_handshake_timeout= / ssl_shutdown_timeout= (None: 60 / 30 s).
  std::optional<double> ssl_handshake_timeout = std::nullopt;
  std::optional<double> ssl_shutdown_timeout = std::nullopt;
};

/// An endpoint's address, as CPython's `local_addr` / `remote_addr`:
/// `(host, port)` for IP (an empty host is the wildcard address), the path
/// alone for AF_UNIX. `{}` is None.
struct HostPort {
  std::string_view host = {};
  int port = -1;
  /// False for None (no host and no port).
  constexpr bool given() const noexcept { return !host.empty() || port >= 0; }
};

/// Keyword arguments of create_datagram_endpoint().
struct DatagramOptions {
  HostPort local_addr = {};   ///< bind here (resolved as getaddrinfo does)
  HostPort remote_addr = {};  ///< connect here: sendto() without an address
  int family = AF_UNSPEC;     ///< required when neither address is given
  int proto = 0;
  int flags = 0;              ///< getaddrinfo flags
  bool reuse_port = false;    ///< SO_REUSEPORT
  bool allow_broadcast = false;  ///< SO_BROADCAST (and remote_addr is not connected)
  /// An existing datagram socket to use instead (`sock=`): the endpoint
  /// owns it once made. No other option may be given with it.
  int sock = -1;
  /// open_datagram_endpoint() only: datagrams queued unread before the
  /// endpoint stops receiving (the kernel's buffer holds the rest).
  std::size_t limit = 1024;
};

static_assert(std::is_trivially_destructible_v<AddrInfoOptions>);
static_assert(std::is_trivially_destructible_v<DatagramOptions>);
static_assert(std::is_trivially_destructible_v<ConnectionOptions>);
static_assert(std::is_trivially_destructible_v<ServerOptions>);

/// Makes the protocol of each new connection (≙ protocol_factory).
using ProtocolFactory = std::function<std::shared_ptr<Protocol>()>;

class Server;
namespace detail {
class ServerState;
/// Acceptor mode (multicore.cpp): each socket `server` accepts goes to
/// `fn`, which owns it, instead of becoming a transport of its loop.
void set_hand_off(const Server& server, std::function<void(int fd)> fn);
}  // namespace detail

/// A listening server (≙ asyncio.Server), as create_server() and
/// start_server() return. A copyable handle: copies refer to the same
/// server. While it listens the loop keeps it alive, so dropping every
/// handle does not stop it (close() does).
class Server {
 public:
  /// The loop the server runs on.
  EventLoop& get_loop() const;
  /// True while the server accepts new connections.
  bool is_serving() const;
  /// The listening sockets; empty once closed.
  std::vector<TransportSocket> sockets() const;
  /// Stops listening: the sockets are closed, connections already accepted
  /// are left open, serve_forever() is cancelled. Idempotent.
  void close();
  /// Closes every connection the server accepted (3.13).
  void close_clients();
  /// Aborts every connection the server accepted (3.13).
  void abort_clients();
  /// Starts accepting connections (if not already), then yields once.
  Coroutine<> start_serving();
  /// Starts accepting and waits until cancelled; cancelling it closes the
  /// server and waits for wait_closed() before the CancelledError goes on.
  /// RuntimeError("server <Server ...> is closed") on a closed server, and
  /// RuntimeError("server <Server ...> is already being awaited on
  /// serve_forever()") while another serve_forever() runs.
  Coroutine<> serve_forever();
  /// Waits until the server is closed and every connection it accepted is
  /// gone (3.12.1); returns at once when that already happened.
  Coroutine<> wait_closed();
  /// `<Server sockets=(<asyncio.TransportSocket ...>,)>`, as CPython.
  std::string repr() const;

  /// `async with server:` (async_with(), contextlib.hpp): the block gets
  /// the server; at its end the server is closed and waited for
  /// (close(), then wait_closed()), as CPython's __aexit__ does.
  Server aenter() const { return *this; }
  Coroutine<> aexit(const std::exception_ptr&);

  /// An empty server, to be assigned later: every member throws
  /// RuntimeError("Server object is not initialized.") until then.
  Server() noexcept = default;
  explicit Server(std::shared_ptr<detail::ServerState> state) noexcept : s_(std::move(state)) {}
  /// False while empty.
  explicit operator bool() const noexcept { return static_cast<bool>(s_); }
  friend bool operator==(const Server& a, const Server& b) noexcept { return a.s_ == b.s_; }

 private:
  const std::shared_ptr<detail::ServerState>& state() const;
  friend void detail::set_hand_off(const Server&, std::function<void(int)>);
  std::shared_ptr<detail::ServerState> s_;
};

/// Resolves `host`/`port` (≙ loop.getaddrinfo), in libuv's thread pool
/// unless `host` is a numeric address. Empty host: the wildcard address
/// with AI_PASSIVE, else the loopback address. Throws std::system_error
/// (the getaddrinfo error, e.g. "[Errno -2] Name or service not known").
/// Cancellable.
Coroutine<std::vector<AddrInfo>> getaddrinfo(EventLoop& loop, std::string_view host, int port,
                                             AddrInfoOptions options = {});

/// The host and service names of a numeric address (≙ loop.getnameinfo,
/// socket.getnameinfo): `(host, service)`, e.g. `("localhost", "http")`,
/// or the numbers with NI_NUMERICHOST / NI_NUMERICSERV in `flags`. Runs in
/// libuv's thread pool. A host that is not a numeric address throws
/// std::system_error "[Errno -2] Name or service not known", as CPython's
/// gaierror. Cancellable.
Coroutine<std::pair<std::string, std::string>> getnameinfo(EventLoop& loop, const SocketAddress& address,
                                                           int flags = 0);
/// getnameinfo() of `(host, port)`.
Coroutine<std::pair<std::string, std::string>> getnameinfo(EventLoop& loop, std::string_view host, int port,
                                                           int flags = 0);

namespace detail {
using ConnectionResult = std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>;
Coroutine<ConnectionResult> create_connection(EventLoop& loop, ProtocolFactory factory, std::string host, int port,
                                              ConnectionOptions options);
Coroutine<ConnectionResult> create_unix_connection(EventLoop& loop, ProtocolFactory factory, std::string path,
                                                   ConnectionOptions options = {});
/// What the adopted socket of `sock=` must be, and the messages when not.
enum class Adopt : std::uint8_t { connection, unix_connection, accepted };
/// `options` gives the TLS keyword arguments (its sock is not used).
Coroutine<ConnectionResult> adopt_connection(EventLoop& loop, ProtocolFactory factory, int sock, Adopt what,
                                             ConnectionOptions options = {});
enum class PipeEnd : std::uint8_t { read, write };
Coroutine<ConnectionResult> connect_pipe(EventLoop& loop, ProtocolFactory factory, int fd, PipeEnd end);

/// `(transport, protocol)` with the protocol as the factory's own type:
/// every call that takes a protocol factory returns through this.
template <class P, class T, class B>
Coroutine<std::pair<std::shared_ptr<T>, std::shared_ptr<P>>> cast_protocol(
    Coroutine<std::pair<std::shared_ptr<T>, std::shared_ptr<B>>> c) {
  auto [transport, protocol] = co_await c;
  co_return std::pair{std::move(transport), std::static_pointer_cast<P>(std::move(protocol))};
}

template <class F>
using factory_protocol_t = typename std::invoke_result_t<F&>::element_type;
}  // namespace detail

/// Connects to `host`:`port` over TCP and makes the protocol with
/// `factory()` (≙ loop.create_connection). The addresses getaddrinfo gives
/// are tried in order (interleaved by family with `options.interleave`),
/// or raced with `options.happy_eyeballs_delay` (staggered_race: the first
/// to connect wins, the others are cancelled and closed before this
/// returns). With all of them failing the error is the one failure, or
/// "Multiple exceptions: ..." — std::system_error with the matching
/// std::errc (connection_refused: "[Errno 111] Connect call failed
/// ('127.0.0.1', 8888)") — or, with `options.all_errors`,
/// ExceptionGroup("create_connection failed", every error). The protocol's connection_made() has run when
/// this returns. TCP_NODELAY is set, as CPython does. Cancellable: nothing
/// is left open.
///
/// `factory` is any callable returning std::shared_ptr<P> with P derived
/// from Protocol; the result is `(transport, protocol)`:
/// `auto [transport, protocol] = co_await create_connection(loop, f, host, port);`
/// Under GCC 12 a lambda written inside the co_await that captures by value
/// something with a destructor does not compile (that compiler destroys it
/// twice, see ASYNCIO_GCC12_CALLABLE_CHECK): name it first.
template <class F, class P = detail::factory_protocol_t<F>>
  requires std::is_base_of_v<Protocol, P>
Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> create_connection(
    EventLoop& loop, F&& factory, std::string_view host, int port, ConnectionOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(
      detail::create_connection(loop, ProtocolFactory(std::forward<F>(factory)), std::string(host), port, options));
}

/// create_connection(sock=...): the protocol over an already connected
/// stream socket (a socket pair, an inherited connection), which the
/// transport owns once made. std::invalid_argument("host and port was not
/// specified and no sock specified") without `options.sock`, ("A Stream
/// Socket was expected, got <...>") for another kind of socket; with a host
/// and port as well: "host/port and sock can not be specified at the same
/// time".
template <class F, class P = detail::factory_protocol_t<F>>
  requires std::is_base_of_v<Protocol, P>
Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> create_connection(EventLoop& loop, F&& factory,
                                                                                       ConnectionOptions options) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(detail::adopt_connection(loop, ProtocolFactory(std::forward<F>(factory)),
                                                             options.sock, detail::Adopt::connection, options));
}

/// Wraps a connection accepted elsewhere (≙ loop.connect_accepted_socket):
/// the transport owns `sock` once made. std::invalid_argument("A Stream
/// Socket was expected, got <...>") for another kind of socket. With
/// `options.ssl` the server side of a TLS handshake runs first (only
/// `ssl`, `ssl_handshake_timeout` and `ssl_shutdown_timeout` are used).
template <class F, class P = detail::factory_protocol_t<F>>
  requires std::is_base_of_v<Protocol, P>
Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> connect_accepted_socket(
    EventLoop& loop, F&& factory, int sock, ConnectionOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(detail::adopt_connection(loop, ProtocolFactory(std::forward<F>(factory)), sock,
                                                             detail::Adopt::accepted, options));
}

/// The read end of a pipe, FIFO, socket or character device `fd` as a
/// transport (≙ loop.connect_read_pipe): data_received() for what arrives,
/// eof_received() then connection_lost() at its end. The transport owns
/// `fd` once made and makes it non-blocking. std::invalid_argument("Pipe
/// transport is for pipes/sockets only.") for a regular file.
template <class F, class P = detail::factory_protocol_t<F>>
  requires std::is_base_of_v<Protocol, P>
Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> connect_read_pipe(EventLoop& loop, F&& factory,
                                                                                       int fd) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(
      detail::connect_pipe(loop, ProtocolFactory(std::forward<F>(factory)), fd, detail::PipeEnd::read));
}

/// The write end `fd` as a transport (≙ loop.connect_write_pipe): write()
/// with flow control, write_eof() and close() close it once flushed.
template <class F, class P = detail::factory_protocol_t<F>>
  requires std::is_base_of_v<Protocol, P>
Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> connect_write_pipe(EventLoop& loop, F&& factory,
                                                                                        int fd) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(
      detail::connect_pipe(loop, ProtocolFactory(std::forward<F>(factory)), fd, detail::PipeEnd::write));
}

/// create_connection() to a Unix socket at `path`
/// (≙ loop.create_unix_connection). Of `options`, only the TLS ones are
/// used (`ssl` needs `server_hostname`: std::invalid_argument("you have to
/// pass server_hostname when using ssl")).
template <class F, class P = detail::factory_protocol_t<F>>
  requires std::is_base_of_v<Protocol, P>
Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> create_unix_connection(
    EventLoop& loop, F&& factory, std::string_view path, ConnectionOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(
      detail::create_unix_connection(loop, ProtocolFactory(std::forward<F>(factory)), std::string(path), options));
}

/// create_unix_connection(sock=...): an already connected Unix stream
/// socket. std::invalid_argument("no path and sock were specified") without
/// one, ("A UNIX Domain Stream Socket was expected, got <...>") for another
/// kind of socket.
template <class F, class P = detail::factory_protocol_t<F>>
  requires std::is_base_of_v<Protocol, P>
Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> create_unix_connection(
    EventLoop& loop, F&& factory, ConnectionOptions options) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(detail::adopt_connection(loop, ProtocolFactory(std::forward<F>(factory)),
                                                             options.sock, detail::Adopt::unix_connection, options));
}

namespace detail {
using DatagramResult = std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>;
using DatagramProtocolFactory = std::function<std::shared_ptr<DatagramProtocol>()>;
Coroutine<DatagramResult> create_datagram_endpoint(EventLoop& loop, DatagramProtocolFactory factory,
                                                   DatagramOptions options);

}  // namespace detail

/// Creates a datagram endpoint (≙ loop.create_datagram_endpoint): a UDP
/// socket (or Unix datagram socket with `family = AF_UNIX`) bound to
/// `local_addr` and/or connected to `remote_addr`, with `factory()` as its
/// protocol; returns `(transport, protocol)` once connection_made() has run.
/// Errors as CPython: std::invalid_argument("unexpected address family")
/// with no address and no family, "can not get address information" when
/// the two addresses share no family, "A datagram socket was expected, got
/// ..." and "socket modifier keyword arguments can not be used when sock is
/// specified. (...)" for `sock`; std::system_error for a failed bind or
/// connect (the first error of the addresses tried).
/// `auto [transport, protocol] = co_await create_datagram_endpoint(loop, f, {.local_addr = {"127.0.0.1", 9999}});`
template <class F, class P = detail::factory_protocol_t<F>>
  requires std::is_base_of_v<DatagramProtocol, P>
Coroutine<std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<P>>> create_datagram_endpoint(
    EventLoop& loop, F&& factory, DatagramOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(
      detail::create_datagram_endpoint(loop, detail::DatagramProtocolFactory(std::forward<F>(factory)), options));
}

namespace detail {
Coroutine<Server> create_server(EventLoop& loop, ProtocolFactory factory, std::vector<std::string> hosts, int port,
                                ServerOptions options);
Coroutine<Server> create_unix_server(EventLoop& loop, ProtocolFactory factory, std::string path,
                                     ServerOptions options);
Coroutine<Server> adopt_server(EventLoop& loop, ProtocolFactory factory, ServerOptions options, bool unix_socket);
}  // namespace detail

/// Listens on `host`:`port` over TCP (≙ loop.create_server): a socket for
/// each address getaddrinfo gives (empty host: every interface, IPv4 and
/// IPv6; port 0: an ephemeral port per socket). Each accepted connection
/// gets `factory()` as its protocol, on a later pass. Throws
/// std::system_error ("[Errno 98] error while attempting to bind on
/// address ('127.0.0.1', 8888): address already in use"). An address
/// whose family this host lacks (no socket, EADDRNOTAVAIL) is skipped, as
/// CPython does; none left: "could not bind on any address out of [...]".
template <class F>
  requires std::is_convertible_v<F, ProtocolFactory>
Coroutine<Server> create_server(EventLoop& loop, F&& factory, std::string_view host, int port,
                                ServerOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::create_server(loop, ProtocolFactory(std::forward<F>(factory)), {std::string(host)}, port, options);
}

/// create_server() on several hosts (≙ a sequence as `host`): the
/// addresses of every host, each bound once however many hosts resolve to
/// it. Under GCC 12 name the vector first (a braced list inside `co_await`
/// does not compile there).
template <class F>
  requires std::is_convertible_v<F, ProtocolFactory>
Coroutine<Server> create_server(EventLoop& loop, F&& factory, const std::vector<std::string>& hosts, int port,
                                ServerOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::create_server(loop, ProtocolFactory(std::forward<F>(factory)), hosts, port, options);
}

/// create_server(sock=...): listens on an already bound stream socket
/// `options.sock` (listen(2) is called with the backlog when serving
/// starts). std::invalid_argument("Neither host/port nor sock were
/// specified") without one, ("A Stream Socket was expected, got <...>")
/// for another kind of socket.
template <class F>
  requires std::is_convertible_v<F, ProtocolFactory>
Coroutine<Server> create_server(EventLoop& loop, F&& factory, ServerOptions options) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::adopt_server(loop, ProtocolFactory(std::forward<F>(factory)), options, false);
}

/// `host = None`: every interface, as an empty host.
template <class F>
  requires std::is_convertible_v<F, ProtocolFactory>
Coroutine<Server> create_server(EventLoop& loop, F&& factory, std::nullptr_t, int port, ServerOptions options = {}) {
  return create_server(loop, std::forward<F>(factory), std::string_view(), port, options);
}

/// create_server() on a Unix socket at `path` (≙ loop.create_unix_server).
/// A stale socket file at `path` is removed first; with
/// `options.cleanup_socket` the file is removed when the server closes.
template <class F>
  requires std::is_convertible_v<F, ProtocolFactory>
Coroutine<Server> create_unix_server(EventLoop& loop, F&& factory, std::string_view path,
                                     ServerOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::create_unix_server(loop, ProtocolFactory(std::forward<F>(factory)), std::string(path), options);
}

/// create_unix_server(sock=...): an already bound Unix stream socket.
/// std::invalid_argument("path was not specified, and no sock specified")
/// without one, ("A UNIX Domain Stream Socket was expected, got <...>")
/// for another kind of socket.
template <class F>
  requires std::is_convertible_v<F, ProtocolFactory>
Coroutine<Server> create_unix_server(EventLoop& loop, F&& factory, ServerOptions options) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::adopt_server(loop, ProtocolFactory(std::forward<F>(factory)), options, true);
}

// ---- TLS upgrade (≙ loop.start_tls; implemented in src/sslproto.cpp) ---------

/// Keyword arguments of start_tls().
struct StartTlsOptions {
  bool server_side = false;
  /// The name to check the peer's certificate against and send (SNI);
  /// nullopt (None): none, which a check_hostname() context refuses.
  std::optional<std::string_view> server_hostname = std::nullopt;
  std::optional<double> ssl_handshake_timeout = std::nullopt;  ///< None: 60 s
  std::optional<double> ssl_shutdown_timeout = std::nullopt;   ///< None: 30 s
};
static_assert(std::is_trivially_destructible_v<StartTlsOptions>);

/// Upgrades an open connection to TLS (≙ loop.start_tls, STARTTLS): from
/// now on `protocol` talks through the TLS transport this returns, once
/// the handshake is done; `transport` must no longer be used directly.
/// `transport` is a TCP/Unix transport or a TLS one (TLS in TLS): anything
/// else is std::invalid_argument("transport ... is not supported by
/// start_tls()"). On failure or cancellation the transport is closed and
/// the error (SSLError, ConnectionAbortedError at the handshake timeout)
/// propagates. `sslcontext` is copied (a handle).
Coroutine<std::shared_ptr<Transport>> start_tls(EventLoop& loop, std::shared_ptr<Transport> transport,
                                                std::shared_ptr<Protocol> protocol, ssl::SSLContext sslcontext,
                                                StartTlsOptions options = {});

}  // namespace asyncio

#endif  // ASYNCIO_BASE_EVENTS_HPP
