// asyncio-cpp: SPDX-License-Identifier: MIT
// staggered_race(): run coroutines with staggered start times and take the
// first to finish (what create_connection's Happy Eyeballs runs on).
// ≙ Lib/asyncio/staggered.py
#ifndef ASYNCIO_STAGGERED_HPP
#define ASYNCIO_STAGGERED_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/timeouts.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace asyncio {

/// What staggered_race() gives: CPython's tuple `(winner_result,
/// winner_index, exceptions)`. A void coroutine's result is
/// std::monostate.
template <class T>
struct StaggeredResult {
  /// The winner's result; empty (None) if no coroutine won.
  std::optional<T> winner_result;
  /// The winner's index in `coro_fns`; empty if no coroutine won.
  std::optional<std::size_t> winner_index;
  /// One entry per coroutine started, in `coro_fns` order: what it threw
  /// (a loser cancelled by the winner: CancelledError), null for the winner.
  std::vector<std::exception_ptr> exceptions;
};

namespace detail {

/// Starts attempt `index` of a race: a coroutine that stores its result
/// where the caller will find it, or throws.
using StaggeredAttempt = std::function<Coroutine<>(std::size_t index)>;

/// The race without its results' type (src/staggered.cpp).
struct StaggeredOutcome {
  std::optional<std::size_t> winner_index;
  std::vector<std::exception_ptr> exceptions;
};
Coroutine<StaggeredOutcome> staggered_race(std::size_t count, StaggeredAttempt attempt, std::optional<double> delay);

template <class C>
using staggered_value_t = std::conditional_t<std::is_void_v<typename C::value_type>, std::monostate,
                                             typename C::value_type>;

/// Runs `fn()` and keeps its result in `slot`.
template <class F, class R>
Coroutine<> staggered_attempt(F& fn, std::optional<R>& slot) {
  auto coro = fn();
  if constexpr (std::is_void_v<typename decltype(coro)::value_type>) {
    co_await coro;
    slot.emplace();
  } else {
    slot.emplace(co_await coro);
  }
}

}  // namespace detail

/// Runs coroutines with staggered start times and takes the first to
/// finish (≙ asyncio.staggered.staggered_race). The first of `coro_fns` is
/// called at once; from then on, whenever the one started last fails (throws)
/// or `delay` seconds have passed, the next is called. This goes on until one
/// coroutine completes successfully, in which case every other is cancelled,
/// or until all have failed. With `delay` nullopt (None) they run one after
/// the other.
///
/// Each of `coro_fns` is a callable returning a Coroutine<T>, called only
/// when its turn comes (so a callable may refer to what the caller keeps
/// alive meanwhile). A coroutine should return only when it succeeded and
/// throw otherwise; if it handles a cancellation it should rethrow it. Each
/// runs in a task of its own; the race returns only once every one of them
/// has finished, so what a cancelled loser cleans up (a socket it opened) is
/// cleaned up by then. Cancelling the race cancels every coroutine, waits
/// for them, then throws CancelledError. An error of the race itself (not of
/// a coroutine) is thrown as ExceptionGroup("staggered race failed", ...).
///
/// Under GCC 12 build the vector in a variable first: a braced list written
/// inside a `co_await` does not compile with that compiler.
template <class F, class R = detail::staggered_value_t<std::invoke_result_t<F&>>>
Coroutine<StaggeredResult<R>> staggered_race(std::vector<F> coro_fns, std::optional<double> delay) {
  std::vector<std::optional<R>> slots(coro_fns.size());
  detail::StaggeredAttempt attempt = [&coro_fns, &slots](std::size_t i) {
    return detail::staggered_attempt(coro_fns[i], slots[i]);
  };
  Coroutine<detail::StaggeredOutcome> race = detail::staggered_race(coro_fns.size(), std::move(attempt), delay);
  detail::StaggeredOutcome outcome = co_await race;
  StaggeredResult<R> result;
  result.winner_index = outcome.winner_index;
  result.exceptions = std::move(outcome.exceptions);
  if (outcome.winner_index) result.winner_result = std::move(slots[*outcome.winner_index]);
  co_return result;
}

/// staggered_race() with a std::chrono delay.
template <class F, class Rep, class Period>
auto staggered_race(std::vector<F> coro_fns, std::chrono::duration<Rep, Period> delay) {
  return staggered_race(std::move(coro_fns), std::optional<double>(detail::seconds(delay)));
}

}  // namespace asyncio

#endif  // ASYNCIO_STAGGERED_HPP
