// asyncio-cpp: SPDX-License-Identifier: MIT
// Write flow control as a protocol sees it: what streams.FlowControlMixin
// keeps (paused, connection lost, the drain waiters), shared by the stream
// protocol (FlowControlMixin) and the awaitable datagram endpoint.
#ifndef ASYNCIO_DETAIL_FLOW_CONTROL_HPP
#define ASYNCIO_DETAIL_FLOW_CONTROL_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/detail/waiters.hpp>

#include <exception>

namespace asyncio::detail {

/// Paused by pause_writing(), resumed by resume_writing(), ended by
/// connection_lost(); drain() waits while paused.
class FlowControl {
 public:
  /// ≙ pause_writing()
  void pause() noexcept { paused_ = true; }
  /// ≙ resume_writing(): every drain() returns.
  void resume() noexcept {
    paused_ = false;
    waiters_.wake(waiters_.size());
  }
  /// ≙ connection_lost(exc): a drain() waiting returns, or throws `exc`.
  void lost(std::exception_ptr exc) noexcept {
    lost_ = true;
    if (!paused_) return;
    exc_ = exc;
    waiters_.wake(waiters_.size());
  }
  bool paused() const noexcept { return paused_; }
  bool is_lost() const noexcept { return lost_; }

  /// ≙ _drain_helper: returns at once unless paused; then waits for
  /// resume() or lost(). Any number of coroutines may wait. After lost():
  /// std::system_error(std::errc::connection_reset) "Connection lost".
  Coroutine<> drain();

 private:
  WaiterList waiters_;
  std::exception_ptr exc_;
  bool paused_ = false;
  bool lost_ = false;
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_FLOW_CONTROL_HPP
