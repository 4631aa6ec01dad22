// asyncio-cpp: SPDX-License-Identifier: MIT
// as_completed(): the results of several awaitables in the order they
// complete. ≙ asyncio.as_completed in Lib/asyncio/tasks.py (3.13)
#ifndef ASYNCIO_AS_COMPLETED_HPP
#define ASYNCIO_AS_COMPLETED_HPP

#include <asyncio/asyncgen.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/detail/composition.hpp>
#include <asyncio/events.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>
#include <asyncio/wait.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

namespace detail {

/// ≙ _AsCompletedIterator's state, shared by the iterator object and the
/// coroutines it hands out (which may outlive it).
template <class H>
class AsCompletedState : public std::enable_shared_from_this<AsCompletedState<H>> {
 public:
  using T = typename H::value_type;

  /// Registers the done-callbacks and the timeout. `todo` must be free of
  /// duplicates.
  void start(std::vector<H> todo, std::optional<double> timeout) {
    EventLoop& loop = get_running_loop();
    entries_.reserve(todo.size());
    for (std::size_t i = 0; i < todo.size(); ++i) {
      auto self = this->shared_from_this();
      CallbackId id = todo[i].add_done_callback([self, i](H) { self->handle_completion(i); });
      entries_.push_back(Entry{std::move(todo[i]), id, true});
    }
    todo_count_ = entries_.size();
    todo_left = entries_.size();
    if (todo_count_ && timeout) {
      // Weak: this state holds the handle (a strong one would be a cycle).
      std::weak_ptr<AsCompletedState> weak = this->weak_from_this();
      timeout_handle_ = loop.call_later(*timeout, [weak] {
        if (auto self = weak.lock()) self->handle_timeout();
      });
    }
  }

  /// ≙ _wait_for_one(): the next completed awaitable (empty after the
  /// timeout: TimeoutError).
  static Coroutine<H> wait_for_one(std::shared_ptr<AsCompletedState> s) {
    H f = co_await s->get();
    if (!f) throw TimeoutError();
    co_return f;
  }
  /// ≙ _wait_for_one(resolve=True): its result (or exception).
  static Coroutine<T> wait_for_result(std::shared_ptr<AsCompletedState> s) {
    H f = co_await s->get();
    if (!f) throw TimeoutError();
    co_return result_value(f);
  }

  std::size_t todo_left = 0;  ///< awaitables not yet handed out

 private:
  struct Entry {
    H handle;
    CallbackId id;
    bool pending;
  };

  // ≙ _handle_completion.
  void handle_completion(std::size_t i) {
    Entry& e = entries_[i];
    if (!e.pending) return;  // the timeout came first
    e.pending = false;
    --todo_count_;
    put(e.handle);
    if (todo_count_ == 0) timeout_handle_.cancel();
  }
  // ≙ _handle_timeout: every awaitable not done yet gets a sentinel.
  void handle_timeout() {
    for (Entry& e : entries_) {
      if (!e.pending) continue;
      e.handle.remove_done_callback(e.id);
      e.pending = false;
      put(H());
    }
    todo_count_ = 0;
  }

  // The queue of completed awaitables (≙ the Queue CPython uses).
  void put(H f) {
    done_.push_back(std::move(f));
    wakeup_next();
  }
  void wakeup_next() {
    while (!getters_.empty()) {
      Future<> g = std::move(getters_.front());
      getters_.pop_front();
      if (!g.done()) {
        g.set_result();
        break;
      }
    }
  }
  Coroutine<H> get() {
    while (done_.empty()) {
      Future<> getter = get_running_loop().create_future();
      getters_.push_back(getter);
      std::exception_ptr failure;
      try {
        co_await getter;
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        // ≙ Queue.get: pass on a wake-up this getter took but cannot use.
        getter.cancel();
        for (auto it = getters_.begin(); it != getters_.end(); ++it)
          if (*it == getter) {
            getters_.erase(it);
            break;
          }
        if (!done_.empty() && !getter.cancelled()) wakeup_next();
        std::rethrow_exception(failure);
      }
    }
    H f = std::move(done_.front());
    done_.pop_front();
    co_return f;
  }

  std::vector<Entry> entries_;
  std::size_t todo_count_ = 0;
  std::deque<H> done_;
  std::deque<Future<>> getters_;
  TimerHandle timeout_handle_;
};

}  // namespace detail

/// What as_completed() returns (≙ _AsCompletedIterator). H is the Task<T>
/// or Future<T> type of the awaitables (coroutines become Task<T>).
///
/// Two ways to use it, as in Python:
/// - `async for`: `while (auto t = co_await it.next()) { use t->result(); }`
///   gives the original tasks/futures in completion order;
/// - plain iteration: `for (auto next : it) { T v = co_await next; }` gives
///   coroutines, the k-th of which (in the order they are awaited) gives the
///   k-th result to arrive, or raises its exception.
/// After the timeout, each awaitable not done yet gives TimeoutError
/// instead. Nothing is ever cancelled. Copies share the same iteration.
template <class H>
class AsCompleted {
  using State = detail::AsCompletedState<H>;

 public:
  using value_type = typename H::value_type;

  /// ≙ __anext__: the next awaitable to complete, or nullopt when all were
  /// given out (StopAsyncIteration). Throws TimeoutError after the timeout.
  Coroutine<std::optional<H>> next() { return next_of(s_); }

  /// How many awaitables are still to be given out.
  std::size_t size() const noexcept { return s_->todo_left; }

  /// An input iterator over coroutines giving the results in completion
  /// order (≙ __next__). Each dereference hands out one coroutine.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Coroutine<typename H::value_type>;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = value_type;

    iterator() = default;
    value_type operator*() const {
      --s_->todo_left;
      return State::wait_for_result(s_);
    }
    iterator& operator++() { return *this; }
    void operator++(int) {}
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.at_end() == b.at_end(); }

   private:
    friend class AsCompleted;
    explicit iterator(std::shared_ptr<State> s) : s_(std::move(s)) {}
    bool at_end() const noexcept { return !s_ || s_->todo_left == 0; }
    std::shared_ptr<State> s_;
  };
  iterator begin() const { return iterator(s_); }
  iterator end() const { return iterator(); }

  explicit AsCompleted(std::shared_ptr<State> s) noexcept : s_(std::move(s)) {}

 private:
  static Coroutine<std::optional<H>> next_of(std::shared_ptr<State> s) {
    if (s->todo_left == 0) co_return std::nullopt;
    --s->todo_left;
    co_return co_await State::wait_for_one(s);
  }
  std::shared_ptr<State> s_;
};

namespace detail {

template <class H>
AsCompleted<H> make_as_completed(std::vector<H> todo, std::optional<double> timeout) {
  dedupe_handles(todo);
  auto s = std::make_shared<AsCompletedState<H>>();
  s->start(std::move(todo), timeout);
  return AsCompleted<H>(std::move(s));
}

template <class R>
auto as_completed_handles(R&& aws) {
  using E = range_handle_t<R>;
  if constexpr (IsCoroutine<E>::value) {
    // Coroutines become tasks (≙ ensure_future), now.
    std::vector<Task<typename E::value_type>> tasks;
    for (auto&& c : aws) tasks.push_back(create_task(std::move(c)));
    return tasks;
  } else {
    static_assert(FutureHandle<E> && requires { typename E::value_type; },
                  "as_completed() takes coroutines, Tasks or Futures");
    return std::vector<E>(std::ranges::begin(aws), std::ranges::end(aws));
  }
}

}  // namespace detail

/// Runs the awaitables concurrently and hands them out in the order they
/// complete (≙ asyncio.as_completed): `aws` is a range of Coroutine<T>
/// (each wrapped in a task now, on the running loop), Task<T> or
/// Future<T>; repeated tasks/futures count once. After `timeout` seconds
/// (nullopt: never) what is not done yet gives TimeoutError; nothing is
/// cancelled. A single awaitable instead of a range does not compile
/// (Python's TypeError). Needs a running loop.
template <std::ranges::input_range R>
auto as_completed(R&& aws, std::optional<double> timeout = std::nullopt) {
  return detail::make_as_completed(detail::as_completed_handles(std::forward<R>(aws)), timeout);
}

/// as_completed() with a std::chrono timeout.
template <std::ranges::input_range R, class Rep, class Period>
auto as_completed(R&& aws, std::chrono::duration<Rep, Period> timeout) {
  return as_completed(std::forward<R>(aws), std::optional<double>(detail::seconds(timeout)));
}

/// as_completed({a, b}, ...).
template <class H>
auto as_completed(std::initializer_list<H> aws, std::optional<double> timeout = std::nullopt) {
  return as_completed(std::vector<H>(aws), timeout);
}

/// `async for t in as_completed(aws):` as a generator: the original
/// tasks/futures in completion order (next() in a loop); TimeoutError
/// after the timeout, as next().
template <class H>
AsyncGenerator<H> aiter(AsCompleted<H> completed) {
  while (true) {
    std::optional<H> next = co_await completed.next();
    if (!next) break;
    co_yield std::move(*next);
  }
}

}  // namespace asyncio

#endif  // ASYNCIO_AS_COMPLETED_HPP
