// asyncio-cpp: SPDX-License-Identifier: MIT
// Queues for coordinating producer and consumer tasks: Queue (FIFO),
// PriorityQueue (smallest first), LifoQueue. ≙ Lib/asyncio/queues.py
//
// Not thread-safe: use a queue from the tasks of one loop, to which it binds
// the first time a task has to wait. Not copyable or movable; it must
// outlive the tasks that use it. Items may be move-only.
#ifndef ASYNCIO_QUEUES_HPP
#define ASYNCIO_QUEUES_HPP

#include <asyncio/asyncgen.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/detail/queue_stores.hpp>
#include <asyncio/detail/waiters.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/locks.hpp>
#include <asyncio/tasks.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace asyncio {

namespace detail {

class QueueWaiting;

/// Everything of a queue but its items: sizes, waiters, unfinished-task
/// count, shutdown.
class QueueBase {
 public:
  QueueBase(const QueueBase&) = delete;
  QueueBase& operator=(const QueueBase&) = delete;

  /// Number of items in the queue.
  std::size_t qsize() const noexcept { return size_; }
  /// Number of items allowed in the queue; 0 or less means no limit.
  std::ptrdiff_t maxsize() const noexcept { return maxsize_; }
  /// True when the queue holds no item.
  bool empty() const noexcept { return size_ == 0; }
  /// True when the queue holds maxsize() items (never without a limit).
  bool full() const noexcept { return maxsize_ > 0 && size_ >= static_cast<std::size_t>(maxsize_); }

  /// Marks one item taken with get() as processed: join() returns once
  /// every item put has been. Throws std::invalid_argument("task_done()
  /// called too many times") when no item is unfinished.
  void task_done();
  /// Suspends until every item put into the queue has been taken and marked
  /// with task_done() (at once when none is unfinished). Cancellable.
  Coroutine<> join();

 protected:
  explicit QueueBase(std::ptrdiff_t maxsize) noexcept : maxsize_(maxsize) {}
  ~QueueBase() = default;

  /// put_nowait(): QueueShutDown / QueueFull when the item cannot go in.
  void check_put() const {
    if (shutdown_ || full()) refuse_put();
  }
  /// After an item went in: counts it, wakes the first getter.
  void item_added() noexcept {
    ++size_;
    ++unfinished_;
    finished_.clear();
    getters_.pop_wake_one();
  }
  /// get_nowait(): QueueShutDown / QueueEmpty when no item can come out.
  void check_get() const {
    if (empty()) refuse_get();
  }
  /// After an item came out: wakes the first putter.
  void item_removed() noexcept {
    --size_;
    putters_.pop_wake_one();
  }
  /// shutdown() once the items are gone (`dropped` of them, if immediate).
  void close(bool immediate, std::size_t dropped) noexcept;

 private:
  friend class QueueWaiting;
  friend struct SyncTestAccess;
  [[noreturn]] void refuse_put() const;
  [[noreturn]] void refuse_get() const;

  WaiterList getters_;
  WaiterList putters_;
  LoopBinding binding_;
  Event finished_;
  std::size_t size_ = 0;
  std::size_t unfinished_ = 0;
  std::ptrdiff_t maxsize_;
  bool shutdown_ = false;
};

/// The waiting part of a put() or get(), without a coroutine frame: it lives
/// in the operation object, in the awaiting task's frame. ≙ the `while
/// self.full(): ... await putter` loop of queues.py, whose second and later
/// rounds (a woken task finding the queue full again, and waiting anew at
/// the back of the line) run in the waiter's Recheck, before the task would
/// be resumed, where CPython's woken task would run them.
class QueueWaiting {
 public:
  QueueWaiting(QueueBase* q, bool put) noexcept : q_(q), put_(put) {}
  /// Moves an operation that has not been awaited yet.
  QueueWaiting(QueueWaiting&& o) noexcept : q_(o.q_), put_(o.put_) {}
  QueueWaiting& operator=(QueueWaiting&&) = delete;

  /// await_ready(): true when no wait is needed (a free slot for a put, an
  /// item for a get), and for a second await, which then throws
  /// RuntimeError("cannot reuse already awaited coroutine").
  bool begin() noexcept {
    if (started_) return reused_ = true;
    started_ = true;
    return ready();
  }
  /// await_suspend(): false (no suspension; resume() throws why) when the
  /// queue is shut down or the task cannot wait here.
  bool suspend(std::coroutine_handle<> h) noexcept;
  /// await_resume(): throws what ended the wait (CancelledError...),
  /// handing a wake-up this task got on to the next waiter; else returns,
  /// and the operation can be done (or put_nowait()/get_nowait() throws
  /// QueueShutDown).
  void resume();

 private:
  static bool recheck(void* self, Waiter& w) noexcept;
  bool ready() const noexcept { return put_ ? !q_->full() : !q_->empty(); }
  WaiterList& waiters() const noexcept { return put_ ? q_->putters_ : q_->getters_; }

  QueueBase* q_;
  TaskCore* task_ = nullptr;
  std::exception_ptr error_;
  std::optional<WaitEntry> entry_;
  std::optional<WaitEntry::Awaiter> awaiter_;
  bool put_;
  bool started_ = false;
  bool reused_ = false;
};

template <class T, class Store>
class BasicQueue;

/// What put() returns: awaiting it puts the item, suspending while the
/// queue is full. Awaitable once; converts to a Coroutine<> (for
/// create_task(), gather()...).
template <class T, class Store>
class [[nodiscard]] QueuePut {
 public:
  using coroutine_type = Coroutine<>;
  QueuePut(BasicQueue<T, Store>* q, T&& item) : wait_(q, true), q_(q), item_(std::move(item)) {}
  QueuePut(QueuePut&&) = default;

  bool await_ready() noexcept { return wait_.begin(); }
  bool await_suspend(std::coroutine_handle<> h) noexcept { return wait_.suspend(h); }
  void await_resume() {
    wait_.resume();
    q_->put_nowait(std::move(item_));
  }
  /// The operation as a coroutine (not yet awaited).
  operator Coroutine<>() && { return run(q_, std::move(item_)); }

 private:
  static Coroutine<> run(BasicQueue<T, Store>* q, T item) { co_await q->put(std::move(item)); }
  QueueWaiting wait_;
  BasicQueue<T, Store>* q_;
  T item_;
};

/// What get() returns: awaiting it gives the next item, suspending while the
/// queue is empty. Awaitable once; converts to a Coroutine<T> (for
/// create_task(), gather()...).
template <class T, class Store>
class [[nodiscard]] QueueGet {
 public:
  using coroutine_type = Coroutine<T>;
  explicit QueueGet(BasicQueue<T, Store>* q) noexcept : wait_(q, false), q_(q) {}
  QueueGet(QueueGet&&) = default;

  bool await_ready() noexcept { return wait_.begin(); }
  bool await_suspend(std::coroutine_handle<> h) noexcept { return wait_.suspend(h); }
  T await_resume() {
    wait_.resume();
    return q_->get_nowait();
  }
  /// The operation as a coroutine (not yet awaited).
  operator Coroutine<T>() && { return run(q_); }

 private:
  static Coroutine<T> run(BasicQueue<T, Store>* q) { co_return co_await q->get(); }
  QueueWaiting wait_;
  BasicQueue<T, Store>* q_;
};

/// The queue proper, over one of the stores of detail/queue_stores.hpp (its
/// `_init`, `_put`, `_get` in CPython). Queue, PriorityQueue and LifoQueue
/// derive from it.
template <class T, class Store>
class BasicQueue : public QueueBase {
 public:
  using value_type = T;

  /// Puts `item` into the queue, suspending while it is full (putters are
  /// served FIFO). Cancellable: a cancelled put() inserts nothing (its item
  /// is destroyed with the operation) and leaves no waiter behind. Throws
  /// QueueShutDown once shutdown() was called. Gives an awaitable operation
  /// (no coroutine frame), which converts to Coroutine<>.
  QueuePut<T, Store> put(T item) { return QueuePut<T, Store>(this, std::move(item)); }
  /// Puts `item` without waiting. Throws QueueFull when full, QueueShutDown
  /// once shutdown() was called. Wakes the first task waiting in get().
  void put_nowait(T item) {
    check_put();
    store_.push(std::move(item));
    item_added();
  }
  /// Removes and gives the next item, suspending while the queue is empty
  /// (getters are served FIFO). Cancellable: a cancelled get() takes no
  /// item, even when the item it was woken for had arrived (that wake-up
  /// goes to the next getter). Throws QueueShutDown once shut down and
  /// empty (at once after an immediate shutdown). Gives an awaitable
  /// operation (no coroutine frame), which converts to Coroutine<T>.
  QueueGet<T, Store> get() { return QueueGet<T, Store>(this); }
  /// Removes and gives the next item without waiting. Throws QueueEmpty when
  /// empty, QueueShutDown when shut down and empty. Wakes the first task
  /// waiting in put().
  T get_nowait() {
    check_get();
    T item = store_.pop();
    item_removed();
    return item;
  }
  /// Shuts the queue down (3.13): put() and put_nowait() throw QueueShutDown
  /// from now on, and get() too once the queue is empty; every waiting
  /// task wakes up to find that out. With `immediate`, the items still in
  /// the queue are dropped (each counted as task_done(), which may release
  /// join()) and get() throws at once.
  void shutdown(bool immediate = false) {
    std::size_t dropped = 0;
    if (immediate) {
      dropped = qsize();
      store_.clear();
    }
    close(immediate, dropped);
  }

 protected:
  using QueueBase::QueueBase;

 private:
  Store store_;
};

}  // namespace detail

/// A first-in, first-out queue for coordinating producer and consumer tasks
/// (≙ asyncio.Queue). `maxsize` <= 0 means unbounded; otherwise put()
/// suspends while maxsize items are queued. Unlike a thread queue, qsize()
/// is exact: nothing runs between reading it and the next operation.
template <class T>
class Queue : public detail::BasicQueue<T, detail::FifoStore<T>> {
 public:
  explicit Queue(std::ptrdiff_t maxsize = 0) : detail::BasicQueue<T, detail::FifoStore<T>>(maxsize) {}
};

/// A queue that gives the smallest item first (≙ asyncio.PriorityQueue, a
/// heapq underneath): smallest under `Compare`, so the default gives the
/// least by `<`. Items of equal priority come out in no particular order,
/// so make the order total, e.g. with std::pair<priority, sequence>.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::HeapStore<T, Compare>> {
 public:
  explicit PriorityQueue(std::ptrdiff_t maxsize = 0)
      : detail::BasicQueue<T, detail::HeapStore<T, Compare>>(maxsize) {}
};

/// A last-in, first-out queue (≙ asyncio.LifoQueue).
template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LifoStore<T>> {
 public:
  explicit LifoQueue(std::ptrdiff_t maxsize = 0) : detail::BasicQueue<T, detail::LifoStore<T>>(maxsize) {}
};

/// The items of `queue` as they come (get() in a loop), until it is shut
/// down and empty (get()'s QueueShutDown ends the iteration; after
/// shutdown(immediate=true) at once). Python's Queue has no `async for`;
/// this is the loop every consumer writes. Each item still needs its
/// task_done() if join() is used. `queue` must outlive the generator.
template <class T, class Store>
AsyncGenerator<T> aiter(detail::BasicQueue<T, Store>& queue) {
  while (true) {
    std::optional<T> item;
    try {
      item.emplace(co_await queue.get());
    } catch (const QueueShutDown&) {
    }
    if (!item) break;
    co_yield std::move(*item);
  }
}

}  // namespace asyncio

#endif  // ASYNCIO_QUEUES_HPP
