// asyncio-cpp: SPDX-License-Identifier: MIT
// wait() and wait_for(): wait for futures and tasks, with a timeout.
// ≙ asyncio.wait and asyncio.wait_for in Lib/asyncio/tasks.py
#ifndef ASYNCIO_WAIT_HPP
#define ASYNCIO_WAIT_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/detail/composition.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>
#include <asyncio/timeouts.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

/// When wait() returns (≙ asyncio.FIRST_COMPLETED, FIRST_EXCEPTION,
/// ALL_COMPLETED).
enum class ReturnWhen : int {
  FIRST_COMPLETED = 0,  ///< when any future finishes or is cancelled
  FIRST_EXCEPTION = 1,  ///< when any future fails (not: is cancelled), else ALL_COMPLETED
  ALL_COMPLETED = 2,    ///< when all futures are done
};
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

/// What wait() gives: Python's `(done, pending)` pair of sets, as two
/// vectors in the order of the argument (duplicates removed). Unpacks like
/// the tuple: `auto [done, pending] = co_await asyncio::wait(tasks);`.
template <class H>
struct WaitResult {
  std::vector<H> done;     ///< done (finished, failed or cancelled) when wait() resumed
  std::vector<H> pending;  ///< the rest
};

namespace detail {

/// ValueError cases of wait(), in CPython's order and words.
void check_wait_args(bool empty, ReturnWhen return_when);
/// _wait(): suspends until `return_when` is met by `fs` or `timeout`
/// passed. Registers a done-callback on each of `fs` (which must stay
/// alive: the caller holds them) and removes them on the way out.
Coroutine<> wait_cores(const std::vector<FutureCore*>& fs, std::optional<double> timeout, ReturnWhen return_when);
/// _cancel_and_wait(): cancels `fut` and waits until it is done, through a
/// waiter future of its own so that the wait itself stays cancellable.
Coroutine<> cancel_and_wait(FutureCore* fut);

/// Removes repeated handles, keeping the first of each (Python's set()).
template <class H>
void dedupe_handles(std::vector<H>& hs) {
  if (hs.size() < 2) return;
  std::vector<FutureCore*> sorted;
  sorted.reserve(hs.size());
  for (const H& h : hs) sorted.push_back(core_of(h));
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end()) return;
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<bool> seen(sorted.size());
  std::size_t kept = 0;
  for (std::size_t i = 0; i < hs.size(); ++i) {
    auto at = std::lower_bound(sorted.begin(), sorted.end(), core_of(hs[i])) - sorted.begin();
    if (seen[at]) continue;
    seen[at] = true;
    if (kept != i) hs[kept] = std::move(hs[i]);
    ++kept;
  }
  hs.resize(kept);
}

template <class H>
Coroutine<WaitResult<H>> wait_handles(std::vector<H> fs, std::optional<double> timeout, ReturnWhen return_when) {
  check_wait_args(fs.empty(), return_when);
  dedupe_handles(fs);
  std::vector<FutureCore*> cores;
  cores.reserve(fs.size());
  for (const H& h : fs) cores.push_back(core_of(h));
  co_await wait_cores(cores, timeout, return_when);
  // Computed now, so futures that finished in the same pass are all done.
  WaitResult<H> r;
  for (H& h : fs) (h.done() ? r.done : r.pending).push_back(std::move(h));
  co_return r;
}

template <class R>
using range_handle_t = std::remove_cvref_t<std::ranges::range_value_t<R>>;

template <class R>
auto to_handles(R&& fs) {
  using H = range_handle_t<R>;
  static_assert(!IsCoroutine<H>::value, "Passing coroutines is forbidden, use tasks explicitly.");
  static_assert(FutureHandle<H>, "wait() takes Futures, Tasks or TaskRefs");
  if constexpr (std::is_same_v<std::remove_cvref_t<R>, std::vector<H>> && !std::is_lvalue_reference_v<R>)
    return std::move(fs);
  else
    return std::vector<H>(std::ranges::begin(fs), std::ranges::end(fs));
}

template <class H>
Coroutine<typename H::value_type> await_handle(H h) {
  co_return co_await std::move(h);
}

/// wait_for() with a timeout <= 0: the awaitable gets no chance to run.
template <class H>
Coroutine<typename H::value_type> wait_expired(H fut) {
  if (!fut.done()) co_await cancel_and_wait(core_of(fut));
  try {
    co_return result_value(fut);
  } catch (const CancelledError&) {
    std::throw_with_nested(TimeoutError());
  }
}

template <class H>
Coroutine<typename H::value_type> wait_for_handle(H fut, std::optional<double> timeout) {
  if (!timeout) co_return co_await std::move(fut);
  if (*timeout <= 0) co_return co_await wait_expired(std::move(fut));
  co_return co_await asyncio::timeout(timeout, [&fut] { return await_handle(std::move(fut)); });
}

}  // namespace detail

/// Waits for the futures/tasks in `fs` (≙ asyncio.wait): any range of
/// Future<T>, Task<T> or TaskRef (one type per call; TaskRef mixes result
/// types). Returns {done, pending} when `return_when` is met or `timeout`
/// seconds passed (nullopt: no limit). Never raises the futures'
/// exceptions, never raises TimeoutError (on timeout, `pending` is not
/// empty), and never cancels anything: cancelling the waiting task raises
/// CancelledError in it and leaves the futures alone. A range of
/// coroutines does not compile ("Passing coroutines is forbidden, use tasks
/// explicitly."). Throws std::invalid_argument("Set of Tasks/Futures is
/// empty.") and ("Invalid return_when value: <n>") when awaited.
template <std::ranges::input_range R>
Coroutine<WaitResult<detail::range_handle_t<R>>> wait(R&& fs, std::optional<double> timeout = std::nullopt,
                                                       ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_handles(detail::to_handles(std::forward<R>(fs)), timeout, return_when);
}

/// wait(fs, return_when): no timeout.
template <std::ranges::input_range R>
Coroutine<WaitResult<detail::range_handle_t<R>>> wait(R&& fs, ReturnWhen return_when) {
  return wait(std::forward<R>(fs), std::nullopt, return_when);
}

/// wait() with a std::chrono timeout.
template <std::ranges::input_range R, class Rep, class Period>
Coroutine<WaitResult<detail::range_handle_t<R>>> wait(R&& fs, std::chrono::duration<Rep, Period> timeout,
                                                       ReturnWhen return_when = ALL_COMPLETED) {
  return wait(std::forward<R>(fs), std::optional<double>(detail::seconds(timeout)), return_when);
}

/// wait({a, b}, ...).
template <class H>
Coroutine<WaitResult<H>> wait(std::initializer_list<H> fs, std::optional<double> timeout = std::nullopt,
                              ReturnWhen return_when = ALL_COMPLETED) {
  return wait(std::vector<H>(fs), timeout, return_when);
}
template <class H>
Coroutine<WaitResult<H>> wait(std::initializer_list<H> fs, ReturnWhen return_when) {
  return wait(std::vector<H>(fs), std::nullopt, return_when);
}

/// Waits for one awaitable with a time limit (≙ asyncio.wait_for, 3.12+):
/// `async with timeout(timeout): return await aw`. A coroutine runs in the
/// calling task. When the time is up the awaitable is cancelled and waited
/// for, cleanup included, then TimeoutError is raised (carrying the
/// CancelledError as std::nested_exception); if it swallowed the
/// cancellation and returned a value, that value is returned; if it raised
/// another exception meanwhile, that exception propagates. `timeout`
/// nullopt: a plain await. `timeout <= 0`: the awaitable is wrapped in a
/// task and, unless already done, cancelled and waited for, so a coroutine
/// never starts. Cancelling the caller cancels the awaitable too; to spare
/// it, pass shield(task).
template <class T>
Coroutine<T> wait_for(Coroutine<T> aw, std::optional<double> timeout) {
  if (!timeout) co_return co_await aw;
  if (*timeout <= 0) co_return co_await detail::wait_expired(create_task(std::move(aw)));
  co_return co_await asyncio::timeout(timeout, [&aw] { return std::move(aw); });
}

/// wait_for() on an awaitable operation that converts to a Coroutine
/// (`wait_for(reader.readline(), 5.0)`, `wait_for(q.get(), 1.0)`): as on
/// that coroutine.
template <class A>
  requires detail::CoroutineOperation<A>
Coroutine<typename detail::coroutine_of_t<A>::value_type> wait_for(A&& aw, std::optional<double> timeout) {
  return wait_for(detail::to_coroutine(std::forward<A>(aw)), timeout);
}

/// wait_for() on a task: the task is cancelled on timeout.
template <class T>
Coroutine<T> wait_for(Task<T> aw, std::optional<double> timeout) {
  return detail::wait_for_handle(std::move(aw), timeout);
}

/// wait_for() on a future: the future is cancelled on timeout.
template <class T>
Coroutine<T> wait_for(Future<T> aw, std::optional<double> timeout) {
  return detail::wait_for_handle(std::move(aw), timeout);
}

/// wait_for() with a std::chrono timeout.
template <class A, class Rep, class Period>
auto wait_for(A aw, std::chrono::duration<Rep, Period> timeout) {
  return wait_for(std::move(aw), std::optional<double>(detail::seconds(timeout)));
}

}  // namespace asyncio

#endif  // ASYNCIO_WAIT_HPP
