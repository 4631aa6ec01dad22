// asyncio-cpp: SPDX-License-Identifier: MIT
// Signal handlers on the loop, over libuv's signal watchers.
// ≙ add_signal_handler / remove_signal_handler in Lib/asyncio/unix_events.py
#include <asyncio/events.hpp>

#include "detail/loop_impl.hpp"
#include "detail/uv_loop.hpp"

#include <csignal>
#include <map>
#include <string>

namespace asyncio {

namespace detail {

/// One signal's watcher: the libuv callback only queues the handler's call
/// on the ready queue (DESIGN.md: no user code in a libuv callback).
class SignalWatcher final : public UvHandleOwner {
 public:
  SignalWatcher(LoopCore* core, std::function<void()> cb) : core_(core), cb_(std::move(cb)) { handle_.data = this; }
  uv_signal_t* handle() noexcept { return &handle_; }
  void set_callback(std::function<void()> cb) { cb_ = std::move(cb); }
  /// Stops watching and frees itself once libuv lets go of the handle.
  void close() noexcept {
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) { delete static_cast<SignalWatcher*>(h->data); });
  }
  void close_for_loop_shutdown() noexcept override { close(); }

  static void on_signal(uv_signal_t* h, int) {
    auto* self = static_cast<SignalWatcher*>(h->data);
    auto* call = new HandleState(self->core_, self->cb_);
    self->core_->push(call);
  }

 private:
  LoopCore* core_;
  std::function<void()> cb_;
  uv_signal_t handle_{};
};

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
  uv_signal_init(detail::uv_loop_of(*this), w->handle());
  if (int rc = uv_signal_start(w->handle(), &detail::SignalWatcher::on_signal, sig)) {
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
