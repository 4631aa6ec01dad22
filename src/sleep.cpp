// asyncio-cpp: SPDX-License-Identifier: MIT
// ≙ asyncio.sleep in Lib/asyncio/tasks.py
#include <asyncio/sleep.hpp>

#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>

#include <cmath>
#include <stdexcept>

namespace asyncio {

namespace detail {

void YieldAwaiter::await_suspend(std::coroutine_handle<> h) const noexcept {
  tls.running->current_task->yield_at(h);
}

void YieldAwaiter::await_resume() const { tls.running->current_task->deliver_pending_cancel(); }

}  // namespace detail

namespace {

// sleep() picks one of these so that the common sleep(0) has a small frame.

Coroutine<> yield_once() { co_await detail::YieldAwaiter{}; }

Coroutine<> invalid_delay() {
  throw std::invalid_argument("Invalid delay: NaN (not a number)");
  co_return;
}

Coroutine<> sleep_on_timer(double seconds) {
  EventLoop& loop = get_running_loop();
  Future<> done = loop.create_future();
  // The timer completes the future unless the sleep was cancelled (CPython's
  // futures._set_result_unless_cancelled); cancelling the sleep removes it.
  TimerHandle timer = loop.call_later(seconds, [done] {
    if (!done.done()) done.set_result();
  });
  struct CancelTimer {
    TimerHandle& t;
    ~CancelTimer() { t.cancel(); }
  } guard{timer};
  co_await done;
}

}  // namespace

Coroutine<> sleep(double seconds) {
  // As in CPython the checks happen when the sleep is awaited, not here.
  if (std::isnan(seconds)) return invalid_delay();
  if (seconds <= 0) return yield_once();
  return sleep_on_timer(seconds);
}

}  // namespace asyncio
