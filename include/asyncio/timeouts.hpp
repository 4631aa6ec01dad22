// asyncio-cpp: SPDX-License-Identifier: MIT
// timeout() and timeout_at(): cancel a block of code that overruns its
// deadline and raise TimeoutError instead. ≙ Lib/asyncio/timeouts.py
#ifndef ASYNCIO_TIMEOUTS_HPP
#define ASYNCIO_TIMEOUTS_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/detail/composition.hpp>
#include <asyncio/detail/timer_heap.hpp>
#include <asyncio/events.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/tasks.hpp>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace asyncio {

class Timeout;

namespace detail {
struct TimeoutAccess;
}  // namespace detail

/// An asynchronous context manager for cancelling overdue code
/// (≙ asyncio.Timeout). Use it through timeout(), timeout_at() or
/// async_with(): C++ has no `async with`, so the block is a callable.
///
/// While the block runs, the Timeout watches the task running it. When the
/// deadline passes it cancels that task (Task::cancel(), no message); when
/// the block then ends with CancelledError and no other cancellation was
/// requested meanwhile (the task's cancelling() is back at its value on
/// entry after the Timeout's uncancel()), the CancelledError becomes
/// TimeoutError. Any other outcome goes through untouched: a cancellation
/// from elsewhere, an exception the block raised instead, or a value the
/// block returned after swallowing the CancelledError (then expired() is
/// true and nothing is raised). So nested timeouts and an external
/// cancel() arriving at the same moment behave as in CPython 3.13.
///
/// States: created → active → (expiring → expired) | finished.
/// Single-threaded, like the loop; not copyable or movable.
class Timeout {
 public:
  /// A timeout that will trigger at loop time `when` once entered: never
  /// if `when` is nullopt, on the next loop pass if `when` is already past.
  explicit Timeout(std::optional<double> when) noexcept : when_(when) {}
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;
  /// Removes a deadline still scheduled. Never throws.
  ~Timeout() {
    if (queued_on_ || soon_) unschedule();
  }

  /// The deadline (loop time), or nullopt when disabled.
  std::optional<double> when() const noexcept { return when_; }
  /// Moves the deadline; nullopt disables it, a past deadline fires on the
  /// next loop pass. Legal only while the block runs: RuntimeError("Timeout
  /// has not been entered") before, "Cannot change state of expiring
  /// Timeout" / "... expired Timeout" / "... finished Timeout" after the
  /// deadline passed or the block ended. std::invalid_argument for NaN.
  void reschedule(std::optional<double> when);
  /// True once the deadline passed while the block ran (even if the block
  /// swallowed the cancellation).
  bool expired() const noexcept { return state_ == State::expiring || state_ == State::expired; }
  /// `<Timeout [active] when=12.5>`, `<Timeout [expired]>`, as CPython's repr.
  std::string repr() const;

 private:
  enum class State : std::uint8_t { created, active, expiring, expired, finished };
  friend struct detail::TimeoutAccess;

  /// The deadline in the loop's timer heap and, once due, in the pass's
  /// expiries (≙ the Timeout's call_at handle).
  struct Deadline final : detail::TimerNode, detail::ExpiryLink {
    explicit Deadline(Timeout* t) noexcept : TimerNode(&Timeout::deadline_due), self(t) { fire = &Timeout::deadline_fire; }
    Timeout* self;
  };
  static void deadline_due(detail::TimerNode& node, detail::LoopCore& loop) noexcept;
  static void deadline_fire(detail::ExpiryLink& link) noexcept;

  /// __aenter__. With `relative`, the deadline is loop.time() + `arg`
  /// (nullopt: disabled), read now; else when_ is the deadline and `arg`
  /// is ignored.
  void enter(std::optional<double> arg, bool relative);
  /// __aexit__; `failing` when the block is ending with the exception being
  /// handled now (called inside the catch handler). Throws TimeoutError,
  /// carrying the CancelledError as std::nested_exception (Python's
  /// `raise TimeoutError from exc`), when the cancellation was its own.
  void exit(bool failing);
  void schedule(double when, double now);
  void unschedule() noexcept;
  void on_timeout();

  std::optional<double> when_;
  detail::TaskCore* task_ = nullptr;      ///< the task running the block
  Deadline deadline_{this};
  detail::LoopCore* queued_on_ = nullptr;  ///< counted while the deadline is queued
  std::optional<Handle> soon_;            ///< the expiry of a past deadline
  int cancelling_ = 0;                    ///< task's cancelling() on entry
  State state_ = State::created;
};

namespace detail {

struct TimeoutAccess {
  static void enter(Timeout& cm, std::optional<double> arg, bool relative) { cm.enter(arg, relative); }
  static void exit(Timeout& cm, bool failing) { cm.exit(failing); }
  static void abandon(Timeout& cm) noexcept { cm.unschedule(); }
};

template <class R, class F>
class TimeoutAwaiter;

/// `async with cm: return await body(cm)` as a coroutine: what
/// TimeoutScope::coroutine() gives (one more coroutine frame than awaiting
/// the scope). `outer` is the user's Timeout, or null to use one living in
/// this frame. The body (a callable) lives in this frame, so a lambda
/// coroutine's captures outlive its coroutine.
template <class R, class F>
Coroutine<R> timeout_scope(Timeout* outer, std::optional<double> arg, bool relative, F body) {
  std::optional<Timeout> own;
  Timeout& cm = outer ? *outer : own.emplace(relative ? std::nullopt : arg);
  TimeoutAccess::enter(cm, arg, relative);
  // Should this frame be destroyed inside the block (its task dropped by a
  // closing loop), the deadline must not fire on a task that is gone.
  struct Abandon {
    Timeout* cm;
    ~Abandon() {
      if (cm) TimeoutAccess::abandon(*cm);
    }
  } abandon{&cm};
  std::optional<std::conditional_t<std::is_void_v<R>, char, R>> result;
  try {
    if constexpr (std::is_void_v<R>)
      co_await body_coroutine(body, cm);
    else
      result.emplace(co_await body_coroutine(body, cm));
  } catch (...) {
    abandon.cm = nullptr;
    TimeoutAccess::exit(cm, true);
    throw;
  }
  abandon.cm = nullptr;
  TimeoutAccess::exit(cm, false);
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

template <class Rep, class Period>
double seconds(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace detail

/// What timeout(), timeout_at() and async_with(Timeout&, ...) return: the
/// block under its Timeout, ready to be awaited once (`co_await
/// asyncio::timeout(...)`). Awaiting it enters the Timeout, runs the body
/// in the awaiting task (no task, and no coroutine frame, of its own) and
/// exits the Timeout, giving the body's value. It holds the body callable,
/// which therefore lives until the body's coroutine has finished. Movable
/// until awaited. For what needs a Coroutine (create_task, gather), use
/// `std::move(scope).coroutine()`.
template <class R, class F>
class [[nodiscard]] TimeoutScope {
 public:
  template <class B>
  TimeoutScope(Timeout* outer, std::optional<double> arg, bool relative, B&& body)
      : outer_(outer), arg_(arg), relative_(relative), body_(std::forward<B>(body)) {}
  /// Moving a scope already awaited is not supported (its Timeout stays).
  TimeoutScope(TimeoutScope&& o) : outer_(o.outer_), arg_(o.arg_), relative_(o.relative_), body_(std::move(o.body_)) {}
  TimeoutScope& operator=(TimeoutScope&&) = delete;

  detail::TimeoutAwaiter<R, F> operator co_await() & noexcept { return detail::TimeoutAwaiter<R, F>(*this); }
  detail::TimeoutAwaiter<R, F> operator co_await() && noexcept { return detail::TimeoutAwaiter<R, F>(*this); }

  using coroutine_type = Coroutine<R>;
  /// The same block as a Coroutine<R> (for create_task, gather, ...).
  Coroutine<R> coroutine() && { return detail::timeout_scope<R>(outer_, arg_, relative_, std::move(body_)); }
  operator Coroutine<R>() && { return std::move(*this).coroutine(); }

 private:
  friend class detail::TimeoutAwaiter<R, F>;
  Timeout& cm() {
    if (outer_) return *outer_;
    if (!own_) own_.emplace(relative_ ? std::nullopt : arg_);
    return *own_;
  }

  Timeout* outer_;
  std::optional<double> arg_;
  bool relative_;
  F body_;
  std::optional<Timeout> own_;
};

namespace detail {

/// Awaits a TimeoutScope: enters the Timeout in await_ready(), then awaits
/// the body's coroutine exactly as `co_await coro` does (run inline, no
/// suspension if it finishes at once), and exits the Timeout in
/// await_resume() with the body's outcome.
template <class R, class F>
class TimeoutAwaiter {
 public:
  explicit TimeoutAwaiter(TimeoutScope<R, F>& s) noexcept : s_(s) {}
  TimeoutAwaiter(const TimeoutAwaiter&) = delete;
  TimeoutAwaiter& operator=(const TimeoutAwaiter&) = delete;
  ~TimeoutAwaiter() {
    if (started_) inner_.~CoroutineAwaiter<R>();
    // Destroyed inside the block (the awaiting frame dropped by a closing
    // loop): the deadline must not fire on a task that is gone.
    if (inside_) TimeoutAccess::abandon(s_.cm());
  }

  bool await_ready() {
    Timeout& cm = s_.cm();
    TimeoutAccess::enter(cm, s_.arg_, s_.relative_);
    try {
      coro_ = body_coroutine(s_.body_, cm);
      ::new (static_cast<void*>(&inner_)) CoroutineAwaiter<R>(coro_.operator co_await());
      started_ = true;
      inside_ = true;
      return inner_.await_ready();
    } catch (...) {
      inside_ = false;
      TimeoutAccess::exit(cm, true);
      throw;
    }
  }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    return inner_.await_suspend(h);
  }
  R await_resume() {
    Timeout& cm = s_.cm();
    inside_ = false;
    try {
      if constexpr (std::is_void_v<R>) {
        inner_.await_resume();
        TimeoutAccess::exit(cm, false);
      } else {
        R r = inner_.await_resume();
        TimeoutAccess::exit(cm, false);  // never throws: no exception
        return r;
      }
    } catch (...) {
      TimeoutAccess::exit(cm, true);
      throw;
    }
  }

 private:
  TimeoutScope<R, F>& s_;
  Coroutine<R> coro_;
  union {
    CoroutineAwaiter<R> inner_;  // constructed in await_ready()
  };
  bool started_ = false;
  bool inside_ = false;
};

}  // namespace detail

/// Runs `body` under a deadline `delay` seconds from now
/// (≙ `async with asyncio.timeout(delay) as cm:`): `co_await
/// asyncio::timeout(1.5, [&](asyncio::Timeout& cm) -> asyncio::Coroutine<int> {
/// ... })`. Gives what the body returns; throws TimeoutError if the
/// deadline cut it (see Timeout). `delay` nullopt: no deadline; `delay <= 0`:
/// the deadline fires on the next loop pass, so the body's first suspension
/// raises. The body is any callable taking `Timeout&` (or nothing),
/// returning a Coroutine or a plain function, called once the Timeout is
/// entered; it is moved into the returned TimeoutScope at once, which keeps
/// it alive until its coroutine finishes. The deadline is read from the
/// loop's clock when the scope is awaited (at once, in the usual `co_await
/// asyncio::timeout(...)`). Must run inside a task: RuntimeError("Timeout
/// should be used inside a task").
template <class F>
  requires detail::ScopeBody<std::decay_t<F>, Timeout>
TimeoutScope<detail::body_result_t<std::decay_t<F>, Timeout>, std::decay_t<F>> timeout(std::optional<double> delay,
                                                                                       F&& body) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return {nullptr, delay, true, std::forward<F>(body)};
}

/// timeout() with a std::chrono duration.
template <class Rep, class Period, class F>
  requires detail::ScopeBody<std::decay_t<F>, Timeout>
TimeoutScope<detail::body_result_t<std::decay_t<F>, Timeout>, std::decay_t<F>> timeout(
    std::chrono::duration<Rep, Period> delay, F&& body) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return {nullptr, detail::seconds(delay), true, std::forward<F>(body)};
}

/// Runs `body` under the absolute deadline `when`, in the loop's clock
/// (≙ `async with asyncio.timeout_at(when) as cm:`); nullopt disables it.
/// Otherwise as timeout().
template <class F>
  requires detail::ScopeBody<std::decay_t<F>, Timeout>
TimeoutScope<detail::body_result_t<std::decay_t<F>, Timeout>, std::decay_t<F>> timeout_at(std::optional<double> when,
                                                                                          F&& body) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return {nullptr, when, false, std::forward<F>(body)};
}

/// `async with cm:` for a Timeout made beforehand (`asyncio::Timeout
/// cm(loop.time() + 5)`), which stays readable afterwards. A Timeout can be
/// entered once: RuntimeError("Timeout has already been entered") after.
/// `cm` must outlive the returned scope.
template <class F>
  requires detail::ScopeBody<std::decay_t<F>, Timeout>
TimeoutScope<detail::body_result_t<std::decay_t<F>, Timeout>, std::decay_t<F>> async_with(Timeout& cm, F&& body) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return {&cm, std::nullopt, false, std::forward<F>(body)};
}

}  // namespace asyncio

#endif  // ASYNCIO_TIMEOUTS_HPP
