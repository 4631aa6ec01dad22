// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the reader and writer of one file descriptor over one libuv
// poll handle. ≙ the selector key of BaseSelectorEventLoop._add_reader /
// _add_writer in Lib/asyncio/selector_events.py (design-notes.md, "File
// descriptors and raw sockets").
#ifndef ASYNCIO_SRC_DETAIL_FD_WATCHER_HPP
#define ASYNCIO_SRC_DETAIL_FD_WATCHER_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/futures.hpp>

#include "uv_handle.hpp"

#include <uv.h>

#include <functional>
#include <unordered_map>

namespace asyncio::detail {

/// One descriptor's registration: a reader and a writer (each a callback,
/// or a waiting coroutine's future), one uv_poll_t for both. The poll
/// callback only records which side is ready and queues the watcher; the
/// callbacks run from the ready queue (no user code in a libuv callback).
class FdWatcher final : public UvHandle {
 public:
  /// UV_READABLE or UV_WRITABLE.
  struct Side {
    std::function<void()> cb;
    /// The future of a wait_readable()/wait_writable() in progress, which
    /// lives in that coroutine's frame; null for an add_reader() callback.
    const Future<>* waiter = nullptr;
    /// Changes at every add or remove: a caller that registered this side
    /// knows it is still its own (≙ handle.cancelled() in CPython's
    /// _sock_read_done).
    unsigned gen = 0;
    bool on = false;
  };

  FdWatcher(LoopCore* core, int fd) noexcept : UvHandle(core), fd_(fd) {}
  /// uv_poll_init: the libuv status (EPERM for a regular file, EBADF).
  int init(uv_loop_t* uv) noexcept;
  int fd() const noexcept { return fd_; }
  Side& side(int event) noexcept { return event == UV_READABLE ? reader_ : writer_; }
  /// UV_READABLE | UV_WRITABLE as registered.
  int mask() const noexcept { return (reader_.on ? UV_READABLE : 0) | (writer_.on ? UV_WRITABLE : 0); }

  /// Registers (or replaces) one side and polls for it. A due call of the
  /// side it replaces is dropped; a coroutine that waited there is woken
  /// (it retries and finds out). Returns the libuv status.
  int set(int event, std::function<void()> cb, const Future<>* waiter);
  /// Unregisters one side; false if it had none. The caller closes the
  /// watcher once mask() is 0.
  bool clear(int event) noexcept;
  /// The waiting frame of side `event` (registration `gen`) is being freed
  /// on a closed loop: drop what refers to it, touching nothing else.
  void forget(int event, unsigned gen) noexcept {
    Side& s = side(event);
    if (s.gen != gen) return;
    s.waiter = nullptr;
    s.cb = nullptr;
  }
  /// Stops polling for good; the watcher frees itself once libuv and the
  /// ready queue let go of it.
  void close() noexcept;
  void close_for_loop_shutdown() noexcept override { close(); }

 private:
  static void on_poll(uv_poll_t* h, int status, int events) noexcept;
  void run(bool discard) noexcept override;
  void release() noexcept override { delete this; }
  /// Runs one side's callback, keeping it unless it was replaced or
  /// removed meanwhile (a callback may remove or replace itself).
  void call(Side& s) noexcept;
  static void drop(Side& s) noexcept;

  uv_poll_t poll_{};
  int fd_;
  int ready_ = 0;  // sides the poll found ready, not yet run
  bool closed_ = false;
  Side reader_;
  Side writer_;
};

/// The loop's watchers by descriptor (EventLoop::Impl::fd_watchers).
struct FdWatchers {
  std::unordered_map<int, FdWatcher*> by_fd;
};

/// CPython's `sock.gettimeout() != 0` check of the sock_*() methods:
/// std::invalid_argument("the socket must be non-blocking").
void check_nonblocking(int fd);

/// wait_writable() on the descriptor of a transport of the loop, which
/// loop.sendfile() writes to itself while the transport is paused and
/// drained (its libuv watcher then polls nothing).
Coroutine<> wait_transport_writable(EventLoop& loop, int fd);

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_FD_WATCHER_HPP
