// asyncio-cpp: SPDX-License-Identifier: MIT
// sleep(): suspend the current task for a while. ≙ asyncio.sleep in tasks.py
#ifndef ASYNCIO_SLEEP_HPP
#define ASYNCIO_SLEEP_HPP

#include <asyncio/coroutine.hpp>

#include <chrono>
#include <concepts>
#include <coroutine>
#include <utility>

namespace asyncio {

namespace detail {
/// One bare yield to the loop: the task goes to the tail of the ready
/// queue (spec S7). A cancellation pending for the task is thrown on resume.
struct YieldAwaiter {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const noexcept;
  void await_resume() const;
};
}  // namespace detail

/// Suspends the current task for `seconds`. `seconds <= 0` yields exactly
/// once (everything already queued runs first). Cancellable: a cancelled
/// sleep ends at once with CancelledError and its timer is removed. Throws
/// std::invalid_argument("Invalid delay: NaN (not a number)") for NaN.
Coroutine<> sleep(double seconds);

/// Integral seconds. Also keeps `sleep(1)` unambiguous next to POSIX
/// ::sleep(unsigned) under `using namespace asyncio`.
template <std::integral I>
Coroutine<> sleep(I seconds) {
  return sleep(static_cast<double>(seconds));
}

template <class Rep, class Period>
Coroutine<> sleep(std::chrono::duration<Rep, Period> delay) {
  return sleep(std::chrono::duration<double>(delay).count());
}

/// sleep(seconds), then gives `result`.
template <class T>
Coroutine<T> sleep(double seconds, T result) {
  co_await sleep(seconds);
  co_return std::move(result);
}

template <class Rep, class Period, class T>
Coroutine<T> sleep(std::chrono::duration<Rep, Period> delay, T result) {
  return sleep(std::chrono::duration<double>(delay).count(), std::move(result));
}

}  // namespace asyncio

#endif  // ASYNCIO_SLEEP_HPP
