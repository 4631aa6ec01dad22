// asyncio-cpp: SPDX-License-Identifier: MIT
// Signal handlers on the loop, over libuv's signal watchers.
// ≙ add_signal_handler / remove_signal_handler in Lib/asyncio/unix_events.py
#include <asyncio/events.hpp>

#include "detail/loop_impl.hpp"
#include "detail/uv_error.hpp"
#include "detail/uv_handle.hpp"
#include "detail/uv_loop.hpp"

#include <csignal>
#include <map>
#include <string>
#include <utility>

namespace asyncio {

namespace detail {

/// One signal's watcher. The libuv callback only queues the watcher itself
/// on the ready queue (DESIGN.md: no user code in a libuv callback); the
/// handler runs from there. Signals that arrive before it runs are one call,
/// as POSIX merges pending signals. A watcher removed or replaced while
/// queued calls nothing stale: it runs the handler current at that pass,
/// or none once removed (CPython would still run the removed one, but its
/// captures cannot dangle).
class SignalWatcher final : public UvHandle {
 public:
  SignalWatcher(LoopCore* core, std::function<void()> cb) : UvHandle(core), cb_(std::move(cb)) {}
  ~SignalWatcher() { release_slot(context_); }
  /// Returns the libuv status (the loop's signal pipe is made at the first
  /// watcher: EMFILE at the descriptor limit).
  int init(uv_loop_t* uv) noexcept {
    const int rc = uv_signal_init(uv, &handle_);
    if (rc == 0) bind_handle(reinterpret_cast<uv_handle_t*>(&handle_));
    return rc;
  }
  uv_signal_t* signal() noexcept { return &handle_; }
  const std::function<void()>& callback() const noexcept { return cb_; }
  void set_callback(std::function<void()> cb) {
    cb_ = std::move(cb);
    release_slot(std::exchange(context_, capture_context()));
  }
  /// Stops watching; the watcher frees itself once libuv lets go of the
  /// handle and the ready queue of it.
  void close() noexcept {
    closed_ = true;
    close_handle();
  }
  void close_for_loop_shutdown() noexcept override { close(); }

  static void on_signal(uv_signal_t* h, int) noexcept { static_cast<SignalWatcher*>(of(reinterpret_cast<uv_handle_t*>(h)))->post(); }

 private:
  void run(bool discard) noexcept override {
    if (discard || closed_) return;
    ContextSwitch in_context(context_);
    try {
      // A copy: the handler may replace itself while it runs.
      std::function<void()> cb = cb_;
      cb();
    } catch (...) {
      report_callback_error(core(), std::current_exception());
    }
  }
  void release() noexcept override { delete this; }

  std::function<void()> cb_;
  /// A copy of the context add_signal_handler() was called in (≙ the
  /// handler's Handle._context): every call runs in it.
  ContextSlot context_ = capture_context();
  uv_signal_t handle_{};
  bool closed_ = false;
};

const std::function<void()>* signal_handler(EventLoop& loop, int sig) noexcept {
  if (!loop.impl_->signals) return nullptr;
  auto& watchers = loop.impl_->signals->watchers;
  auto it = watchers.find(sig);
  return it == watchers.end() ? nullptr : &it->second->callback();
}

}  // namespace detail

void EventLoop::add_signal_handler(int sig, std::function<void()> callback) {
  check_closed();
  if (sig <= 0 || sig >= NSIG) throw std::invalid_argument("invalid signal number " + std::to_string(sig));
  if (sig == SIGKILL || sig == SIGSTOP) throw RuntimeError("sig " + std::to_string(sig) + " cannot be caught");
  if (!impl_->signals) impl_->signals = std::make_unique<detail::SignalHandlers>();
  auto& watchers = impl_->signals->watchers;
  if (auto it = watchers.find(sig); it != watchers.end()) {
    it->second->set_callback(std::move(callback));
    return;
  }
  auto* w = new detail::SignalWatcher(core_, std::move(callback));
  if (int rc = w->init(detail::uv_loop_of(*this)); rc < 0) {
    delete w;  // the handle was never initialised
    detail::throw_os_error(rc);
  }
  if (int rc = uv_signal_start(w->signal(), &detail::SignalWatcher::on_signal, sig)) {
    w->close();
    throw RuntimeError("sig " + std::to_string(sig) + " cannot be caught: " + uv_strerror(rc));
  }
  watchers.emplace(sig, w);
}

bool EventLoop::remove_signal_handler(int sig) {
  if (!impl_->signals) return false;
  auto& watchers = impl_->signals->watchers;
  auto it = watchers.find(sig);
  if (it == watchers.end()) return false;
  it->second->close();  // libuv restores the default disposition
  watchers.erase(it);
  return true;
}

}  // namespace asyncio
