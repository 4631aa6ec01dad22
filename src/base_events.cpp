// asyncio-cpp: SPDX-License-Identifier: MIT
// DNS, create_connection, create_server and Server. ≙ the network part of
// Lib/asyncio/base_events.py (and selector_events' accept loop).
#include <asyncio/base_events.hpp>

#include <asyncio/exceptions.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/tasks.hpp>

#include "detail/adopt.hpp"
#include "detail/connect.hpp"
#include "detail/debug.hpp"
#include "detail/report.hpp"
#include "detail/resolve.hpp"
#include "detail/sockaddr.hpp"
#include "detail/sslproto.hpp"
#include "detail/stream_transport.hpp"
#include "detail/uv_error.hpp"

#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace asyncio {

namespace detail {

namespace {

/// A uv_getaddrinfo request. It outlives a cancelled lookup: libuv calls
/// back in every case (UV_EAI_CANCELED at worst), and whoever is last
/// frees it.
struct GaiRequest {
  uv_getaddrinfo_t req;
  Future<int> done;
  addrinfo* result = nullptr;
  bool completed = false;  // the callback ran
  bool abandoned = false;  // the lookup was cancelled: the callback frees

  GaiRequest() = default;
  GaiRequest(const GaiRequest&) = delete;
  GaiRequest& operator=(const GaiRequest&) = delete;
  ~GaiRequest() {
    if (result) uv_freeaddrinfo(result);
  }

  static void on_done(uv_getaddrinfo_t* req, int status, addrinfo* res) noexcept {
    auto* r = static_cast<GaiRequest*>(req->data);
    r->completed = true;
    r->result = res;
    if (r->abandoned) {
      delete r;
      return;
    }
    if (!r->done.done()) r->done.set_result(status);
  }
};


/// A thread-pool request (getaddrinfo, getnameinfo), owned while its
/// coroutine waits: made and started by `start(req)` (the uv_*() call; its
/// error is thrown), then freed once its callback has run, or cancelled
/// with the freeing left to the callback, which sees `abandoned`.
template <class Request>
struct PoolRequest {
  Request* req;
  template <class Start>
  PoolRequest(EventLoop& loop, Start start) : req(new Request) {
    req->req.data = req;
    req->done = loop.create_future<int>();
    if (const int rc = start(req); rc < 0) {
      delete req;
      throw_os_error(rc);
    }
  }
  PoolRequest(const PoolRequest&) = delete;
  PoolRequest& operator=(const PoolRequest&) = delete;
  ~PoolRequest() {
    if (req->completed) {
      delete req;
    } else {
      req->abandoned = true;
      uv_cancel(reinterpret_cast<uv_req_t*>(&req->req));
    }
  }
};

/// ≙ the OSError create_server raises for a failed bind.
[[noreturn]] void throw_bind_error(int err, const Resolved& r) { throw_errno(err, bind_error_message(err, r)); }

}  // namespace

/// `call` names the system call the addresses are for ("connect",
/// "bind", "getaddrinfo"), as CPython's OverflowError does.
Coroutine<std::vector<Resolved>> resolve(EventLoop& loop, std::string host, int port, AddrInfoOptions o,
                                         const char* call) {
  const std::uint16_t checked = checked_port(port, call);
  std::vector<Resolved> out;
  // A numeric address needs no lookup (≙ _ipaddr_info): the common case
  // costs no thread-pool round trip.
  Resolved r;
  const bool datagram = o.type == SOCK_DGRAM;
  if (!host.empty() && (o.type == 0 || o.type == SOCK_STREAM || datagram) &&
      numeric_address(host, checked, o.family, r.addr, r.len)) {
    r.family = r.addr.ss_family;
    r.type = datagram ? SOCK_DGRAM : SOCK_STREAM;
    r.proto = o.proto ? o.proto : datagram ? IPPROTO_UDP : IPPROTO_TCP;
    out.push_back(r);
    co_return out;
  }
  addrinfo hints{};
  hints.ai_family = o.family;
  hints.ai_socktype = o.type;
  hints.ai_protocol = o.proto;
  hints.ai_flags = o.flags;
  const std::string service = std::to_string(checked);
  PoolRequest<GaiRequest> request(loop, [&](GaiRequest* req) {
    return uv_getaddrinfo(uv_loop_of(loop), &req->req, &GaiRequest::on_done, host.empty() ? nullptr : host.c_str(),
                          service.c_str(), &hints);
  });
  Future<int> done = request.req->done;
  int status = co_await done;
  if (status < 0) throw_os_error(status);
  for (addrinfo* ai = request.req->result; ai; ai = ai->ai_next) {
    Resolved x;
    std::memcpy(&x.addr, ai->ai_addr, std::min<std::size_t>(ai->ai_addrlen, sizeof x.addr));
    x.len = static_cast<socklen_t>(ai->ai_addrlen);
    x.family = ai->ai_family;
    x.type = ai->ai_socktype;
    x.proto = ai->ai_protocol;
    if (ai->ai_canonname) x.canonname = ai->ai_canonname;
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(std::move(x));
  }
  co_return out;
}


Coroutine<ConnectionResult> create_unix_connection(EventLoop& loop, ProtocolFactory factory, std::string path,
                                                   ConnectionOptions options) {
  std::optional<TlsParams> tls = adopted_tls(options, Adopt::unix_connection);  // TLS (sslproto.cpp)
  // Connected here rather than by uv_pipe_connect, which truncates a long
  // path (reaching another socket) and cannot name an abstract one. A Unix
  // stream connects at once or fails (EAGAIN: the backlog is full, as
  // libuv reports it too).
  sockaddr_un un;
  const socklen_t len = unix_address(path, un);
  DiscardGuard conn(StreamTransport::make(loop, StreamTransport::Kind::pipe));
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&un), len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    throw_errno(err);
  }
  if (int status = conn.t->open(fd); status < 0) {
    ::close(fd);
    throw_os_error(status);
  }
  std::shared_ptr<Protocol> protocol = make_protocol(factory);
  Coroutine<ConnectionResult> made = wrap_ssl(loop, conn.release(), std::move(protocol), std::move(tls));
  co_return co_await made;
}

// ---- Server ------------------------------------------------------------------

/// A listening socket. Owned by its handle: freed by the close callback.
/// It holds the server while open, so a server nobody references goes on
/// serving (as CPython's loop holds the server through its reader).
///
/// The socket is polled and accepted here (≙ selector_events
/// _accept_connection), not by uv_listen: on EMFILE libuv closes a spare
/// descriptor, accepts and drops the connection, and when that trick fails
/// it retries accept() at once for ever inside one poll (the loop freezes).
/// Here a resource error stops accepting for accept_retry_delay, reported
/// once; the connections wait in the backlog (design-notes.md, "Accepting").
class ServerState::Listener final : public UvHandle {
 public:
  /// A listener for the bound socket `fd` (which it owns from now on).
  static Listener* make(std::shared_ptr<ServerState> server, StreamTransport::Kind kind, int fd) {
    Listener* l;
    try {
      l = new Listener(std::move(server), kind, fd);
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (int rc = uv_poll_init_socket(l->uv(), &l->poll_, fd); rc < 0) {
      delete l;  // closes fd
      throw_os_error(rc);
    }
    l->bind_handle(reinterpret_cast<uv_handle_t*>(&l->poll_));
    return l;
  }

  int fd() const noexcept { return fd_; }
  /// listen(2) and start accepting. Returns a libuv status.
  int listen(int backlog) noexcept {
    if (::listen(fd_, backlog) != 0) return -errno;
    return resume();
  }

  /// Closes the socket (removing a Unix socket's file when asked).
  void close() noexcept {
    if (handle_closing()) return;
    retry_.cancel();
    if (!unix_path.empty()) {
      // ≙ _UnixSelectorEventLoop._stop_serving (3.13): only our own file.
      struct stat st {};
      if (::stat(unix_path.c_str(), &st) == 0 && st.st_ino == unix_ino) ::unlink(unix_path.c_str());
    }
    close_handle();
    // The socket goes now, as CPython's _stop_serving closes it: uv_close
    // has already taken the fd out of the poller (test_create_server_sock).
    ::close(std::exchange(fd_, -1));
  }
  /// Through the server, so that its list of listeners stays right.
  void close_for_loop_shutdown() noexcept override {
    if (core()->debug) warn_unclosed(core(), "server <Server socket fd=" + std::to_string(fd_) + ">");
    server_->close();
  }

  std::string unix_path;  // set when cleanup_socket applies
  ino_t unix_ino = 0;

 private:
  // ≙ constants.ACCEPT_RETRY_DELAY
  static constexpr double accept_retry_delay = 1.0;

  Listener(std::shared_ptr<ServerState> server, StreamTransport::Kind kind, int fd)
      : UvHandle(server->core), server_(std::move(server)), kind_(kind), fd_(fd) {}
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }

  uv_loop_t* uv() const noexcept { return uv_loop_of(*server_->core->owner); }
  static Listener* from(uv_handle_t* h) noexcept { return static_cast<Listener*>(of(h)); }
  // Accepting runs in the poll callback (it calls no user code); the
  // ready queue is not used.
  void run(bool) noexcept override {}
  void release() noexcept override { delete this; }

  int resume() noexcept { return uv_poll_start(&poll_, UV_READABLE, &Listener::on_readable); }

  static void on_readable(uv_poll_t* p, int status, int) noexcept {
    Listener* l = from(reinterpret_cast<uv_handle_t*>(p));
    if (status < 0) return l->back_off(-status);
    // As many as the backlog per wake-up (≙ CPython, bpo-27906); at least
    // one, or a backlog of 0 would accept nothing at all.
    for (int i = 0, n = std::max(l->server_->backlog, 1); i < n; ++i) {
      const int fd = ::accept4(l->fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return;
        if (!retry_at_once(err)) return l->back_off(err);
        continue;
      }
      if (int err = l->adopt(fd)) return l->back_off(err);
    }
  }

  /// A connection that went away before accept() took it: ECONNABORTED,
  /// and the pending network errors accept(2) says to treat as EAGAIN.
  static bool retry_at_once(int err) noexcept {
    switch (err) {
      case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN:
      case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
        return true;
      default:
        return false;
    }
  }

  /// A transport for the accepted `fd`; its protocol is made on the next
  /// pass. Returns 0, or the errno that stopped it (`fd` is then closed).
  int adopt(int fd) noexcept {
    if (server_->hand_off) {
      server_->hand_off(fd);
      return 0;
    }
    try {
      auto t = StreamTransport::make(*server_->core->owner, kind_);
      if (int rc = t->open(fd); rc < 0) {
        ::close(fd);
        t->discard();
        return -rc;
      }
      t->accepted(server_);
      return 0;
    } catch (...) {
      ::close(fd);
      return ENOMEM;
    }
  }

  /// Stops accepting for accept_retry_delay and reports `err` once through
  /// the exception handler, on the ready queue (no user code in a libuv
  /// callback). CPython backs off only for EMFILE, ENFILE, ENOBUFS and
  /// ENOMEM and logs other errors at every wake-up; here every error backs
  /// off, so none can spin.
  void back_off(int err) noexcept {
    uv_poll_stop(&poll_);
    try {
      EventLoop& loop = *server_->core->owner;
      retry_ = loop.call_later(accept_retry_delay, [this] {
        if (!handle_closing() && server_->serving) {
          if (int rc = resume(); rc < 0) back_off(-rc);
        }
      });
      const bool resources = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
      ExceptionContext ctx;
      ctx.message = resources ? "socket.accept() out of system resource" : "socket.accept() failed";
      ctx.exception = make_os_error(-err);
      loop.call_soon([&loop, ctx = std::move(ctx)] { loop.call_exception_handler(ctx); });
    } catch (...) {
      // Out of memory for the report: the retry may be lost too; serving
      // stops rather than spins.
    }
  }

  uv_poll_t poll_;
  std::shared_ptr<ServerState> server_;
  StreamTransport::Kind kind_;
  int fd_;
  TimerHandle retry_;
};

ServerState::ServerState(EventLoop& loop, ProtocolFactory f, int backlog_)
    : core(&loop.core()), factory(std::move(f)), backlog(backlog_) {
  core->incref();
}

ServerState::~ServerState() { core->decref(); }

namespace {

int open_socket(int family, int proto) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) throw_errno(errno);
  return fd;
}

/// ≙ repr() of a str: 'host' (a quote inside switches to "...").
std::string python_str_repr(const std::string& s) {
  const char q = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  return q + s + q;
}

void set_int_option(int fd, int level, int name) {
  int one = 1;
  if (::setsockopt(fd, level, name, &one, sizeof one) != 0) {
    int err = errno;
    ::close(fd);
    throw_errno(err);
  }
}

}  // namespace

bool ServerState::add_tcp_listener(const sockaddr* addr, socklen_t len, const ServerOptions& options) {
  // The socket is made and bound here rather than by libuv, which would
  // defer EADDRINUSE to listen() and always set SO_REUSEADDR.
  const int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;  // ≙ "Assume it's a bad family/type/protocol combination."
  if (options.reuse_address) set_int_option(fd, SOL_SOCKET, SO_REUSEADDR);
  if (options.reuse_port) set_int_option(fd, SOL_SOCKET, SO_REUSEPORT);
  if (options.keep_alive) set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE);
  // Disable IPv4/IPv6 dual stack, as CPython does: "::" and "0.0.0.0" are
  // two separate sockets.
  if (addr->sa_family == AF_INET6) set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY);
  if (::bind(fd, addr, len) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EADDRNOTAVAIL) return false;
    Resolved r;
    std::memcpy(&r.addr, addr, len);
    r.len = len;
    throw_bind_error(err, r);
  }
  listeners.push_back(Listener::make(shared_from_this(), StreamTransport::Kind::tcp, fd));
  return true;
}

void ServerState::add_unix_listener(const std::string& path, const ServerOptions& options) {
  sockaddr_un un;
  const socklen_t len = unix_address(path, un);
  const bool abstract = !path.empty() && path[0] == '\0';
  if (!abstract && !path.empty()) {
    // Remove a stale socket file left by a previous server (≙ CPython).
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
  }
  int fd = open_socket(AF_UNIX, 0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&un), len) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EADDRINUSE) throw_errno(err, "Address '" + path + "' is already in use");
    throw_errno(err);
  }
  Listener* l = Listener::make(shared_from_this(), StreamTransport::Kind::pipe, fd);
  listeners.push_back(l);
  struct stat st {};
  if (options.cleanup_socket && !abstract && ::stat(path.c_str(), &st) == 0) {
    l->unix_path = path;
    l->unix_ino = st.st_ino;
  }
}

void ServerState::start_serving() {
  if (serving || closed) return;
  serving = true;
  for (Listener* l : listeners)
    if (int rc = l->listen(backlog); rc < 0) throw_os_error(rc);
}

void ServerState::close() noexcept {
  // ≙ Server.close
  if (closed) return;
  closed = true;
  for (Listener* l : std::exchange(listeners, {})) l->close();
  serving = false;
  if (serving_forever && !serving_forever.done()) serving_forever.cancel();
  serving_forever = {};
  if (client_count == 0) wakeup();
}

void ServerState::attach(StreamTransport* t) noexcept {
  t->prev_client = nullptr;
  t->next_client = clients;
  if (clients) clients->prev_client = t;
  clients = t;
  ++client_count;
}

void ServerState::detach(StreamTransport* t) noexcept {
  if (t->prev_client)
    t->prev_client->next_client = t->next_client;
  else if (clients == t)
    clients = t->next_client;
  else
    return;  // not attached
  if (t->next_client) t->next_client->prev_client = t->prev_client;
  t->prev_client = t->next_client = nullptr;
  --client_count;
  if (client_count == 0 && closed) wakeup();
}

void ServerState::wakeup() noexcept {
  if (woken) return;
  woken = true;
  for (Future<>& w : std::exchange(waiters, {}))
    if (!w.done()) w.set_result();
}

std::string ServerState::repr() const {
  // A Python tuple: "()", "(a,)", "(a, b)".
  std::string s = "<Server sockets=(";
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    if (i) s += ", ";
    s += TransportSocket(listeners[i]->fd()).repr();
  }
  if (listeners.size() == 1) s += ",";
  return s + ")>";
}

namespace {

Coroutine<Server> finish_server(std::shared_ptr<ServerState> state, bool start) {
  if (start) {
    state->start_serving();
    // ≙ `await tasks.sleep(0)`: let the listening sockets settle.
    co_await YieldAwaiter{};
  }
  co_return Server(std::move(state));
}

/// Closes what a failed create_server opened.
struct CloseOnError {
  std::shared_ptr<ServerState>& state;
  bool done = false;
  ~CloseOnError() {
    if (!done) state->close();
  }
};

}  // namespace

Coroutine<Server> create_server(EventLoop& loop, ProtocolFactory factory, std::vector<std::string> hosts, int port,
                                ServerOptions options) {
  if (options.sock >= 0) throw std::invalid_argument("host/port and sock can not be specified at the same time");
  factory = wrap_ssl_factory(loop, std::move(factory), server_tls(options));  // TLS (sslproto.cpp)
  const AddrInfoOptions hints{options.family, SOCK_STREAM, 0, options.flags};
  // Every address of every host, each once (CPython makes a set of them;
  // here the first-seen order is kept). The lookups run one after the
  // other where CPython gathers them.
  std::vector<Resolved> infos;
  for (const std::string& host : hosts) {
    Coroutine<std::vector<Resolved>> lookup = resolve(loop, host, port, hints, "bind");
    std::vector<Resolved> found = co_await lookup;
    if (found.empty())
      throw_os_message("getaddrinfo(" + (host.empty() ? std::string("None") : python_str_repr(host)) +
                       ") returned empty list");
    for (Resolved& r : found)
      if (std::find(infos.begin(), infos.end(), r) == infos.end()) infos.push_back(std::move(r));
  }
  auto state = std::make_shared<ServerState>(loop, std::move(factory), options.backlog);
  {
    CloseOnError guard{state};
    for (const Resolved& info : infos) state->add_tcp_listener(info.sa(), info.len, options);
    if (state->listeners.empty()) {
      std::string all;
      for (const Resolved& info : infos) all += (all.empty() ? "" : ", ") + to_socket_address(info.sa(), info.len).repr();
      throw_os_message("could not bind on any address out of [" + all + "]");
    }
    guard.done = true;
  }
  Coroutine<Server> finish = finish_server(std::move(state), options.start_serving);
  co_return co_await finish;
}

Coroutine<Server> create_unix_server(EventLoop& loop, ProtocolFactory factory, std::string path,
                                     ServerOptions options) {
  if (options.sock >= 0) throw std::invalid_argument("path and sock can not be specified at the same time");
  factory = wrap_ssl_factory(loop, std::move(factory), server_tls(options));  // TLS (sslproto.cpp)
  auto state = std::make_shared<ServerState>(loop, std::move(factory), options.backlog);
  {
    CloseOnError guard{state};
    state->add_unix_listener(path, options);
    guard.done = true;
  }
  Coroutine<Server> finish = finish_server(std::move(state), options.start_serving);
  co_return co_await finish;
}

Coroutine<Server> adopt_server(EventLoop& loop, ProtocolFactory factory, ServerOptions options, bool unix_socket) {
  if (options.sock < 0)
    throw std::invalid_argument(unix_socket ? "path was not specified, and no sock specified"
                                            : "Neither host/port nor sock were specified");
  check_stream_socket(options.sock, unix_socket);
  factory = wrap_ssl_factory(loop, std::move(factory), server_tls(options));  // TLS (sslproto.cpp)
  set_nonblocking(options.sock);
  auto state = std::make_shared<ServerState>(loop, std::move(factory), options.backlog);
  const bool is_unix = socket_option(options.sock, SO_DOMAIN) == AF_UNIX;
  state->listeners.push_back(ServerState::Listener::make(
      state, is_unix ? StreamTransport::Kind::pipe : StreamTransport::Kind::tcp, options.sock));
  Coroutine<Server> finish = finish_server(std::move(state), options.start_serving);
  co_return co_await finish;
}

namespace {

Coroutine<> wait_closed(std::shared_ptr<ServerState> s) {
  if (s->woken) co_return;
  Future<> waiter = s->core->owner->create_future();
  s->waiters.push_back(waiter);
  co_await waiter;
}

Coroutine<> serve_forever(std::shared_ptr<ServerState> s) {
  if (s->serving_forever) throw RuntimeError("server " + s->repr() + " is already being awaited on serve_forever()");
  if (s->closed) throw RuntimeError("server " + s->repr() + " is closed");
  s->start_serving();
  Future<> forever = s->core->owner->create_future();
  s->serving_forever = forever;
  std::exception_ptr cancelled;
  try {
    co_await forever;
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  // ≙ `except CancelledError: try: close(); await wait_closed() finally: raise`
  // (C++ cannot await inside a handler).
  s->serving_forever = {};
  if (!cancelled) co_return;
  s->close();
  Coroutine<> closed = wait_closed(s);
  try {
    co_await closed;
  } catch (const CancelledError&) {
    // Cancelled again while waiting: the first cancellation goes on.
  }
  std::rethrow_exception(cancelled);
}

Coroutine<> start_serving(std::shared_ptr<ServerState> s) {
  s->start_serving();
  co_await YieldAwaiter{};
}

/// A uv_getnameinfo request; like GaiRequest, freed by its callback when
/// the lookup was cancelled.
struct NameInfoRequest {
  uv_getnameinfo_t req;
  Future<int> done;
  std::pair<std::string, std::string> result;
  bool completed = false;
  bool abandoned = false;

  static void on_done(uv_getnameinfo_t* req, int status, const char* host, const char* service) noexcept {
    auto* r = static_cast<NameInfoRequest*>(req->data);
    r->completed = true;
    if (r->abandoned) {
      delete r;
      return;
    }
    if (status == 0) {
      try {
        r->result = {host, service};
      } catch (...) {
        status = UV_ENOMEM;
      }
    }
    if (!r->done.done()) r->done.set_result(status);
  }
};

Coroutine<std::pair<std::string, std::string>> lookup_nameinfo(EventLoop& loop, SocketAddress address, int flags) {
  // ≙ socket.getnameinfo: the host must be a numeric address (it resolves
  // it with AI_NUMERICHOST).
  sockaddr_storage sa{};
  socklen_t len = 0;
  if (!numeric_address(address.host, checked_port(address.port, "getnameinfo"), address.family, sa, len))
    throw_os_error(UV_EAI_NONAME);
  if (sa.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
    in6->sin6_flowinfo = htonl(address.flowinfo);
    if (address.scope_id) in6->sin6_scope_id = address.scope_id;
  }
  PoolRequest<NameInfoRequest> request(loop, [&](NameInfoRequest* req) {
    return uv_getnameinfo(uv_loop_of(loop), &req->req, &NameInfoRequest::on_done,
                          reinterpret_cast<const sockaddr*>(&sa), flags);
  });
  Future<int> done = request.req->done;
  int status = co_await done;
  if (status < 0) throw_os_error(status);
  co_return std::move(request.req->result);
}

Coroutine<std::vector<AddrInfo>> lookup_addrinfo(EventLoop& loop, std::string host, int port, AddrInfoOptions o) {
  Coroutine<std::vector<Resolved>> lookup = resolve(loop, std::move(host), port, o, "getaddrinfo");
  std::vector<Resolved> infos = co_await lookup;
  std::vector<AddrInfo> out;
  for (const auto& r : infos)
    out.push_back(AddrInfo{r.family, r.type, r.proto, r.canonname, to_socket_address(r.sa(), r.len)});
  co_return out;
}

}  // namespace

}  // namespace detail

Coroutine<std::vector<AddrInfo>> getaddrinfo(EventLoop& loop, std::string_view host, int port,
                                             AddrInfoOptions options) {
  return detail::lookup_addrinfo(loop, std::string(host), port, options);
}

Coroutine<std::pair<std::string, std::string>> getnameinfo(EventLoop& loop, const SocketAddress& address, int flags) {
  return detail::lookup_nameinfo(loop, address, flags);
}

Coroutine<std::pair<std::string, std::string>> getnameinfo(EventLoop& loop, std::string_view host, int port,
                                                           int flags) {
  return detail::lookup_nameinfo(loop, SocketAddress{AF_UNSPEC, std::string(host), port}, flags);
}

const std::shared_ptr<detail::ServerState>& Server::state() const {
  if (!s_) throw RuntimeError("Server object is not initialized.");
  return s_;
}

EventLoop& Server::get_loop() const {
  if (!state()->core->owner) throw RuntimeError("Event loop is closed");
  return *s_->core->owner;
}

bool Server::is_serving() const { return state()->serving; }

std::vector<TransportSocket> Server::sockets() const {
  std::vector<TransportSocket> out;
  for (auto* l : state()->listeners) out.emplace_back(l->fd());
  return out;
}

void Server::close() { state()->close(); }

namespace {

std::vector<std::shared_ptr<Transport>> clients_of(const detail::ServerState& s) {
  std::vector<std::shared_ptr<Transport>> clients;
  for (auto* t = s.clients; t; t = t->next_client) clients.push_back(t->shared_from_this());
  return clients;
}

Coroutine<> close_and_wait(Server server) {
  server.close();
  co_await server.wait_closed();
}

}  // namespace

void Server::close_clients() {
  for (auto& t : clients_of(*state())) t->close();
}

void Server::abort_clients() {
  for (auto& t : clients_of(*state())) t->abort();
}

Coroutine<> Server::start_serving() { return detail::start_serving(state()); }
Coroutine<> Server::serve_forever() { return detail::serve_forever(state()); }
Coroutine<> Server::wait_closed() { return detail::wait_closed(state()); }
std::string Server::repr() const { return state()->repr(); }
Coroutine<> Server::aexit(const std::exception_ptr&) {
  state();
  return close_and_wait(*this);
}

}  // namespace asyncio
