// asyncio-cpp: SPDX-License-Identifier: MIT
// add_reader / add_writer over one uv_poll_t per descriptor, the awaitable
// wait_readable / wait_writable, and the sock_*() coroutines built on them.
// ≙ BaseSelectorEventLoop in Lib/asyncio/selector_events.py
// (design-notes.md, "File descriptors and raw sockets").
#include <asyncio/selector_events.hpp>

#include <asyncio/futures.hpp>

#include "detail/fd_watcher.hpp"
#include "detail/loop_impl.hpp"
#include "detail/resolve.hpp"
#include "detail/sockaddr.hpp"
#include "detail/uv_error.hpp"
#include "detail/uv_loop.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace asyncio {

namespace detail {

namespace {

/// The Python class a libuv handle of a transport stands for.
const char* transport_class(uv_handle_t* h) {
  switch (h->type) {
    case UV_TCP:
      return "_SelectorSocketTransport";
    case UV_UDP:
      return "_SelectorDatagramTransport";
    case UV_NAMED_PIPE: {
      auto* s = reinterpret_cast<uv_stream_t*>(h);
      if (uv_is_readable(s) && uv_is_writable(s)) return "_SelectorSocketTransport";
      return uv_is_readable(s) ? "_UnixReadPipeTransport" : "_UnixWritePipeTransport";
    }
    default:
      return "Server";  // a listening socket, polled by its server
  }
}

struct FindOwner {
  int fd;
  uv_handle_t* owner = nullptr;
};

/// ≙ _ensure_fd_no_transport: a transport (or server) of this loop polls
/// `fd` already; a second libuv poll of one descriptor would break both
/// (libuv keeps one watcher per descriptor). A walk of the loop's
/// handles: only made when the descriptor has no watcher of ours yet.
void ensure_fd_no_transport(EventLoop& loop, int fd) {
  FindOwner find{fd};
  uv_walk(
      uv_loop_of(loop),
      [](uv_handle_t* h, void* arg) {
        auto* f = static_cast<FindOwner*>(arg);
        uv_os_fd_t hfd = -1;
        if (f->owner || !h->data || uv_is_closing(h) || uv_fileno(h, &hfd) != 0 || hfd != f->fd) return;
        if (!dynamic_cast<FdWatcher*>(UvHandle::of(h))) f->owner = h;
      },
      &find);
  if (!find.owner) return;
  const std::string n = std::to_string(fd);
  throw RuntimeError("File descriptor " + n + " is used by transport <" + transport_class(find.owner) +
                     " fd=" + n + ">");
}

/// ≙ _add_reader / _add_writer: registers one side of `fd`, making its
/// watcher at the first registration. Returns the watcher.
FdWatcher& add(EventLoop& loop, FdWatchers& ws, int fd, int event, std::function<void()> cb,
               const Future<>* waiter, bool transport_fd = false) {
  auto it = ws.by_fd.find(fd);
  if (it == ws.by_fd.end()) {
    if (!transport_fd) ensure_fd_no_transport(loop, fd);
    auto* w = new FdWatcher(&loop.core(), fd);
    if (int rc = w->init(uv_loop_of(loop)); rc < 0) {
      delete w;  // the handle was never initialised
      throw_os_error(rc);
    }
    it = ws.by_fd.emplace(fd, w).first;
  }
  FdWatcher& w = *it->second;
  if (int rc = w.set(event, std::move(cb), waiter); rc < 0) {
    if (w.mask() == 0) {
      w.close();
      ws.by_fd.erase(it);
    }
    throw_os_error(rc);
  }
  return w;
}

/// ≙ _remove_reader / _remove_writer; `gen` (when given) removes only the
/// registration of that generation (still the caller's own).
bool remove(FdWatchers* ws, int fd, int event, const unsigned* gen = nullptr) {
  if (!ws) return false;
  auto it = ws->by_fd.find(fd);
  if (it == ws->by_fd.end()) return false;
  FdWatcher& w = *it->second;
  if (gen && w.side(event).gen != *gen) return false;
  const bool had = w.clear(event);
  if (w.mask() == 0) {
    w.close();
    ws->by_fd.erase(it);
  }
  return had;
}

/// wait_readable / wait_writable: a reader or writer that completes a
/// future, removed on the way out however the wait ends (≙ the done
/// callback _sock_read_done, which removes the reader unless it was
/// replaced).
Coroutine<> wait_ready(EventLoop& loop, int fd, int event, FdWatchers& ws, bool transport_fd) {
  if (auto it = ws.by_fd.find(fd); it != ws.by_fd.end()) {
    const FdWatcher::Side& s = it->second->side(event);
    // A waiter whose future is done was cancelled and has not run yet
    // (CPython's replaced handle): its place may be taken.
    if (s.on && !(s.waiter && s.waiter->done()))
      throw RuntimeError("File descriptor " + std::to_string(fd) + " is already waited for by another " +
                         (s.waiter ? "coroutine" : (event == UV_READABLE ? "reader" : "writer")));
  }
  Future<> ready = loop.create_future();
  FdWatcher& w = add(
      loop, ws, fd, event,
      [f = &ready] {
        if (!f->done()) f->set_result();
      },
      &ready, transport_fd);
  struct Unregister {
    LoopCore* core;
    FdWatchers* ws;  // the loop's, which lives as long as the EventLoop
    int fd;
    int event;
    unsigned gen;
    ~Unregister() {
      // The frame may be freed after the loop was closed (an orphaned task)
      // or destroyed (owner null: its watchers are long gone). On a closed
      // loop the watcher, closed or about to be, only forgets this frame.
      if (core->owner) {
        if (!core->owner->is_closed())
          remove(ws, fd, event, &gen);
        else if (auto it = ws->by_fd.find(fd); it != ws->by_fd.end())
          it->second->forget(event, gen);
      }
      core->decref();
    }
  } guard{&loop.core(), &ws, fd, event, w.side(event).gen};
  loop.core().incref();
  co_await ready;
}

/// The errno of a call that would block (or was interrupted): wait, retry.
bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

int sockopt(int fd, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, SOL_SOCKET, name, &v, &len) != 0) throw_errno(errno);
  return v;
}

/// The sockaddr of `address` for `sock` (≙ _ensure_resolved with the
/// socket's family, type and protocol; a path for AF_UNIX).
Coroutine<Resolved> socket_address(EventLoop& loop, int sock, HostPort address, const char* call) {
  const int family = sockopt(sock, SO_DOMAIN);
  if (family == AF_UNIX) {
    Resolved r;
    r.family = AF_UNIX;
    r.len = unix_address(address.host, reinterpret_cast<sockaddr_un&>(r.addr));
    co_return r;
  }
  AddrInfoOptions hints{.family = family, .type = sockopt(sock, SO_TYPE), .proto = sockopt(sock, SO_PROTOCOL)};
  std::vector<Resolved> all = co_await resolve(loop, std::string(address.host), address.port, hints, call);
  co_return std::move(all.front());
}

SocketAddress address_of(const sockaddr_storage& ss, socklen_t len) {
  return to_socket_address(reinterpret_cast<const sockaddr*>(&ss), len);
}

}  // namespace

/// CPython's sock.gettimeout() != 0 check, made always (a blocking socket
/// would stall the whole loop).
void check_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) throw_errno(errno);
  if (!(flags & O_NONBLOCK)) throw std::invalid_argument("the socket must be non-blocking");
}

FdWatchers& fd_watchers(EventLoop& loop) {
  if (!loop.impl_->fd_watchers) loop.impl_->fd_watchers = std::make_unique<FdWatchers>();
  return *loop.impl_->fd_watchers;
}

Coroutine<> wait_transport_writable(EventLoop& loop, int fd) {
  if (loop.is_closed()) throw RuntimeError("Event loop is closed");
  return wait_ready(loop, fd, UV_WRITABLE, fd_watchers(loop), true);
}

}  // namespace detail

void EventLoop::add_reader(int fd, std::function<void()> callback) {
  check_closed();
  detail::add(*this, detail::fd_watchers(*this), fd, UV_READABLE, std::move(callback), nullptr);
}

void EventLoop::add_writer(int fd, std::function<void()> callback) {
  check_closed();
  detail::add(*this, detail::fd_watchers(*this), fd, UV_WRITABLE, std::move(callback), nullptr);
}

bool EventLoop::remove_reader(int fd) {
  if (impl_->closed) return false;
  if (!impl_->fd_watchers || !impl_->fd_watchers->by_fd.contains(fd)) detail::ensure_fd_no_transport(*this, fd);
  return detail::remove(impl_->fd_watchers.get(), fd, UV_READABLE);
}

bool EventLoop::remove_writer(int fd) {
  if (impl_->closed) return false;
  if (!impl_->fd_watchers || !impl_->fd_watchers->by_fd.contains(fd)) detail::ensure_fd_no_transport(*this, fd);
  return detail::remove(impl_->fd_watchers.get(), fd, UV_WRITABLE);
}

Coroutine<> EventLoop::wait_readable(int fd) {
  check_closed();
  return detail::wait_ready(*this, fd, UV_READABLE, detail::fd_watchers(*this), false);
}

Coroutine<> EventLoop::wait_writable(int fd) {
  check_closed();
  return detail::wait_ready(*this, fd, UV_WRITABLE, detail::fd_watchers(*this), false);
}

// The sock_*() coroutines: try the call; on EAGAIN wait for readiness and
// try again (≙ _sock_recv & co., which retry from the reader callback).

Coroutine<std::string> sock_recv(EventLoop& loop, int sock, std::size_t n) {
  detail::check_nonblocking(sock);
  std::string data(n, '\0');
  for (;;) {
    const ssize_t r = ::recv(sock, data.data(), n, 0);
    if (r >= 0) {
      data.resize(static_cast<std::size_t>(r));
      co_return data;
    }
    if (!detail::would_block(errno)) detail::throw_errno(errno);
    co_await loop.wait_readable(sock);
  }
}

Coroutine<std::size_t> sock_recv_into(EventLoop& loop, int sock, std::span<char> buf) {
  detail::check_nonblocking(sock);
  for (;;) {
    const ssize_t r = ::recv(sock, buf.data(), buf.size(), 0);
    if (r >= 0) co_return static_cast<std::size_t>(r);
    if (!detail::would_block(errno)) detail::throw_errno(errno);
    co_await loop.wait_readable(sock);
  }
}

Coroutine<std::pair<std::size_t, SocketAddress>> sock_recvfrom_into(EventLoop& loop, int sock, std::span<char> buf,
                                                                    std::size_t nbytes) {
  detail::check_nonblocking(sock);
  if (nbytes > buf.size()) throw std::invalid_argument("nbytes is greater than the length of the buffer");
  if (nbytes == 0) nbytes = buf.size();
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const ssize_t r = ::recvfrom(sock, buf.data(), nbytes, 0, reinterpret_cast<sockaddr*>(&ss), &len);
    if (r >= 0) co_return std::pair{static_cast<std::size_t>(r), detail::address_of(ss, len)};
    if (!detail::would_block(errno)) detail::throw_errno(errno);
    co_await loop.wait_readable(sock);
  }
}

Coroutine<std::pair<std::string, SocketAddress>> sock_recvfrom(EventLoop& loop, int sock, std::size_t bufsize) {
  std::string data(bufsize, '\0');
  auto [n, address] = co_await sock_recvfrom_into(loop, sock, std::span<char>(data));
  data.resize(n);
  co_return std::pair{std::move(data), std::move(address)};
}

Coroutine<> sock_sendall(EventLoop& loop, int sock, std::string_view data) {
  detail::check_nonblocking(sock);
  for (;;) {
    const ssize_t r = ::send(sock, data.data(), data.size(), MSG_NOSIGNAL);
    if (r >= 0) {
      data.remove_prefix(static_cast<std::size_t>(r));
      if (data.empty()) co_return;
    } else if (!detail::would_block(errno)) {
      detail::throw_errno(errno);
    }
    co_await loop.wait_writable(sock);
  }
}

Coroutine<std::size_t> sock_sendto(EventLoop& loop, int sock, std::string_view data, HostPort address) {
  detail::check_nonblocking(sock);
  const detail::Resolved to = co_await detail::socket_address(loop, sock, address, "sendto");
  for (;;) {
    const ssize_t r = ::sendto(sock, data.data(), data.size(), MSG_NOSIGNAL, to.sa(), to.len);
    if (r >= 0) co_return static_cast<std::size_t>(r);
    if (!detail::would_block(errno)) detail::throw_errno(errno);
    co_await loop.wait_writable(sock);
  }
}

Coroutine<> sock_connect(EventLoop& loop, int sock, HostPort address) {
  detail::check_nonblocking(sock);
  const detail::Resolved to = co_await detail::socket_address(loop, sock, address, "connect");
  if (::connect(sock, to.sa(), to.len) == 0) co_return;
  // EINPROGRESS (EAGAIN for a Unix socket with a full backlog, EINTR):
  // the connection goes on in the background; writable means it ended.
  if (errno != EINPROGRESS && !detail::would_block(errno)) detail::throw_errno(errno);
  for (;;) {
    co_await loop.wait_writable(sock);
    const int err = detail::sockopt(sock, SO_ERROR);
    if (err == 0) co_return;
    if (!detail::would_block(err))
      detail::throw_errno(err, "Connect call failed " + detail::address_of(to.addr, to.len).repr());
  }
}

Coroutine<std::pair<Socket, SocketAddress>> sock_accept(EventLoop& loop, int sock) {
  detail::check_nonblocking(sock);
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int conn = ::accept4(sock, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn >= 0) co_return std::pair{Socket::from_fd(conn), detail::address_of(ss, len)};
    if (!detail::would_block(errno)) detail::throw_errno(errno);
    co_await loop.wait_readable(sock);
  }
}

}  // namespace asyncio
