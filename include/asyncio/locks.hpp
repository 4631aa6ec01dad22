// asyncio-cpp: SPDX-License-Identifier: MIT
// Synchronisation primitives for tasks: Lock, Event, Condition, Semaphore,
// BoundedSemaphore, Barrier. ≙ Lib/asyncio/locks.py
//
// Like CPython's, they are not thread-safe: use one from the tasks of one
// loop, to which it binds the first time it has to wait (a later use from
// another loop raises RuntimeError). None is copyable or movable, and each
// must outlive the tasks that use it.
#ifndef ASYNCIO_LOCKS_HPP
#define ASYNCIO_LOCKS_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/detail/waiters.hpp>
#include <asyncio/exceptions.hpp>

#include <cstddef>
#include <exception>
#include <mutex>
#include <type_traits>
#include <string>
#include <utility>

namespace asyncio {

namespace detail {
/// Hands an exception thrown by a guard's release to the running loop's
/// exception handler (a destructor cannot throw).
void report_guard_release_error(std::exception_ptr e) noexcept;
}  // namespace detail

/// An acquired Lock, Condition or Semaphore, released when the guard goes out
/// of scope: the C++ spelling of `async with lock:` is
/// `auto held = co_await lock.guard();` (the block is the guard's scope).
///
/// Move-only. release() leaves the block early and throws what the
/// primitive's release() throws. The destructor cannot throw: should the
/// release fail there (the lock was released behind the guard's back), the
/// error goes to the running loop's exception handler.
template <class L>
class [[nodiscard]] LockGuard {
 public:
  /// Adopts `lock`, which the caller has acquired.
  LockGuard(L& lock, std::adopt_lock_t) noexcept : l_(&lock) {}
  LockGuard(LockGuard&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
  LockGuard& operator=(LockGuard&& o) noexcept {
    if (this != &o) {
      reset();
      l_ = std::exchange(o.l_, nullptr);
    }
    return *this;
  }
  ~LockGuard() { reset(); }

  /// Releases now; the guard then holds nothing.
  void release() { std::exchange(l_, nullptr)->release(); }
  /// False once released or moved from.
  bool owns_lock() const noexcept { return l_ != nullptr; }

 private:
  void reset() noexcept {
    if (!l_) return;
    try {
      std::exchange(l_, nullptr)->release();
    } catch (...) {
      detail::report_guard_release_error(std::current_exception());
    }
  }
  L* l_;
};

namespace detail {
/// `acquire()`, then a guard that owns it (what every guard() returns).
template <class L>
Coroutine<LockGuard<L>> acquire_guard(L& lock) {
  co_await lock.acquire();
  co_return LockGuard<L>(lock, std::adopt_lock);
}
/// `__aenter__` of a lock-like primitive: acquire(), giving nothing.
template <class L>
Coroutine<> acquire_for_with(L& lock) {
  co_await lock.acquire();
}
}  // namespace detail

/// A mutual-exclusion lock not owned by any task (≙ asyncio.Lock): any task
/// may release it. Waiters are served in FIFO order, and a task that calls
/// acquire() while a woken waiter has not run yet queues behind it.
/// The lock itself is not awaitable (`await lock` is a TypeError in Python):
/// call acquire() or guard().
class Lock {
 public:
  Lock() noexcept = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  /// True while acquired.
  bool locked() const noexcept { return locked_; }
  /// Acquires the lock, suspending while another task holds it or while
  /// earlier waiters are queued; gives true (always, as Python). Cancellable:
  /// a cancelled acquire leaves no waiter behind, and if it had been woken
  /// already the wake-up passes to the next waiter. RuntimeError outside a
  /// running loop or from a loop other than the one it is bound to.
  Coroutine<bool> acquire();
  /// Releases the lock and wakes the first waiter. Never suspends. Throws
  /// RuntimeError("Lock is not acquired.") when the lock is not held.
  void release();
  /// `async with lock:` — acquires, then gives a guard that releases.
  Coroutine<LockGuard<Lock>> guard() { return detail::acquire_guard(*this); }
  /// `<asyncio.locks.Lock object at 0x... [locked, waiters:1]>`, as CPython.
  std::string repr() const;
  /// The async context manager protocol (async_with(), contextlib.hpp):
  /// `co_await async_with(lock, [&] { ... })` acquires, runs the block,
  /// releases however it ends.
  Coroutine<> aenter() { return detail::acquire_for_with(*this); }
  void aexit(const std::exception_ptr&) { release(); }

 private:
  friend struct detail::SyncTestAccess;
  void wake_up_first() noexcept;

  detail::WaiterList waiters_;
  detail::LoopBinding binding_;
  bool locked_ = false;
};

/// A flag tasks can wait for (≙ asyncio.Event), initially clear.
class Event {
 public:
  Event() noexcept = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// True when the flag is set.
  bool is_set() const noexcept { return value_; }
  /// `<asyncio.locks.Event object at 0x... [set]>`, as CPython.
  std::string repr() const;
  /// Sets the flag and wakes every waiting task (they resume on a later loop
  /// pass, in the order they started waiting). Never suspends.
  void set() noexcept;
  /// Clears the flag. Tasks already woken by set() still return from wait().
  void clear() noexcept { value_ = false; }
  /// Gives true at once if the flag is set; otherwise suspends until set()
  /// is called, then gives true. Cancellable; RuntimeError outside a running
  /// loop or from another loop than the bound one.
  Coroutine<bool> wait();

 private:
  friend struct detail::SyncTestAccess;
  detail::WaiterList waiters_;
  detail::LoopBinding binding_;
  bool value_ = false;
};

/// A condition variable (≙ asyncio.Condition): tasks wait() until another
/// task notifies them, with a Lock held around the state they share. The
/// lock is its own, or one given to the constructor (which must outlive the
/// Condition). Spurious wake-ups are allowed, as in CPython: re-check the
/// state after wait() returns, or use wait_for().
class Condition {
 public:
  /// A condition with a Lock of its own.
  Condition() noexcept : lock_(&own_lock_) {}
  /// A condition sharing `lock`, which must outlive it.
  explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  /// The underlying lock's locked(), acquire(), release().
  bool locked() const noexcept { return lock_->locked(); }
  Coroutine<bool> acquire() { return lock_->acquire(); }
  void release() { lock_->release(); }
  /// `async with condition:` — acquires the lock, gives a guard.
  Coroutine<LockGuard<Condition>> guard() { return detail::acquire_guard(*this); }
  /// `<asyncio.locks.Condition object at 0x... [unlocked, waiters:2]>`.
  std::string repr() const;
  /// The async context manager protocol (async_with(), contextlib.hpp):
  /// `co_await async_with(condition, [&] { ... })` acquires, runs the block,
  /// releases however it ends.
  Coroutine<> aenter() { return detail::acquire_for_with(*this); }
  void aexit(const std::exception_ptr&) { release(); }

  /// Releases the lock, suspends until notified, then re-acquires the lock
  /// and gives true. The lock must be held (by any task: there is no
  /// ownership), else RuntimeError("cannot wait on un-acquired lock").
  /// The lock is held again however wait() ends, even when cancelled: the
  /// re-acquire is retried through cancellations and the last CancelledError
  /// is rethrown. Leaving with any exception passes a notification it may
  /// have received on to another waiter.
  Coroutine<bool> wait();
  /// `while (!(r = predicate())) co_await wait();` then gives r, the last
  /// value of the predicate (anything testable as bool). Needs the lock only
  /// when the predicate is false at first. `predicate` is kept in the
  /// coroutine (moved in); what it refers to must outlive the wait.
  template <class Predicate>
  Coroutine<std::decay_t<std::invoke_result_t<std::decay_t<Predicate>&>>> wait_for(Predicate&& predicate) {
    ASYNCIO_GCC12_CALLABLE_CHECK(Predicate);
    return wait_until(std::decay_t<Predicate>(std::forward<Predicate>(predicate)));
  }
  /// Wakes up to `n` waiters not yet notified, in FIFO order; each returns
  /// from wait() once it has re-taken the lock, so the caller should release
  /// it. RuntimeError("cannot notify on un-acquired lock") unless locked.
  void notify(std::size_t n = 1);
  /// Wakes every waiter (as notify()).
  void notify_all() { notify(waiters_.size()); }

 private:
  friend struct detail::SyncTestAccess;
  template <class Predicate>
  Coroutine<std::decay_t<std::invoke_result_t<Predicate&>>> wait_until(Predicate predicate);

  detail::WaiterList waiters_;
  detail::LoopBinding binding_;
  Lock own_lock_;
  Lock* lock_;
};

template <class Predicate>
Coroutine<std::decay_t<std::invoke_result_t<Predicate&>>> Condition::wait_until(Predicate predicate) {
  auto result = predicate();
  while (!result) {
    co_await wait();
    result = predicate();
  }
  co_return result;
}

/// A counter of available units (≙ asyncio.Semaphore): acquire() takes one,
/// waiting while none is free; release() gives one back. FIFO: while tasks
/// wait, a newcomer queues behind them even if a unit is free, and release()
/// hands its unit directly to the first waiter (CPython 3.13).
class Semaphore {
 public:
  /// Throws std::invalid_argument("Semaphore initial value must be >= 0")
  /// for a negative `value` (Python's ValueError).
  explicit Semaphore(std::ptrdiff_t value = 1) : Semaphore(value, false) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// True when acquire() would suspend: no unit free, or tasks waiting.
  bool locked() const noexcept { return value_ == 0 || !waiters_.all_cancelled(); }
  /// Takes a unit, suspending (FIFO) while none can be taken; gives true.
  /// Cancellable: a waiter cancelled after a unit was handed to it gives
  /// the unit back to the next waiter. RuntimeError outside a running loop
  /// or from another loop than the bound one.
  Coroutine<bool> acquire();
  /// Gives a unit back and hands it to the first waiter, if any. Never
  /// suspends. A BoundedSemaphore throws std::invalid_argument
  /// ("BoundedSemaphore released too many times") past its initial value.
  void release();
  /// `async with semaphore:` — acquires, gives a guard that releases.
  Coroutine<LockGuard<Semaphore>> guard() { return detail::acquire_guard(*this); }
  /// `<asyncio.locks.Semaphore object at 0x... [unlocked, value:1]>`.
  std::string repr() const;
  /// The async context manager protocol (async_with(), contextlib.hpp):
  /// `co_await async_with(semaphore, [&] { ... })` acquires, runs the block,
  /// releases however it ends.
  Coroutine<> aenter() { return detail::acquire_for_with(*this); }
  void aexit(const std::exception_ptr&) { release(); }

 protected:
  Semaphore(std::ptrdiff_t value, bool bounded);

 private:
  friend struct detail::SyncTestAccess;
  bool wake_up_next() noexcept;
  void wake_up_while_free() noexcept;

  detail::WaiterList waiters_;
  detail::LoopBinding binding_;
  std::ptrdiff_t value_;
  std::ptrdiff_t bound_;  ///< the initial value of a BoundedSemaphore, else -1
};

/// A Semaphore whose release() refuses to go past the initial value
/// (≙ asyncio.BoundedSemaphore).
class BoundedSemaphore : public Semaphore {
 public:
  /// std::invalid_argument for a negative `value`, as Semaphore.
  explicit BoundedSemaphore(std::ptrdiff_t value = 1) : Semaphore(value, true) {}
};

/// Holds `parties` tasks until all of them have arrived, then releases them
/// together (≙ asyncio.Barrier, 3.11). Reusable: it fills again once every
/// released task has left. `async with barrier as i:` is `auto i = co_await
/// barrier.wait();` (leaving the block does nothing).
class Barrier {
 public:
  /// std::invalid_argument("parties must be > 0") when `parties` < 1.
  explicit Barrier(std::ptrdiff_t parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// Suspends until `parties` tasks wait, then gives this task's arrival
  /// index, 0 to parties-1 (the last arrival releases the others). Tasks
  /// arriving while released tasks are still leaving wait for the next
  /// round. Throws BrokenBarrierError("Barrier aborted") when broken on
  /// arrival, BrokenBarrierError("Abort or reset of barrier") when abort()
  /// or reset() hits it while waiting. Cancellable (the task no longer
  /// counts as waiting).
  Coroutine<std::ptrdiff_t> wait();
  /// Back to the initial, empty state; tasks waiting get BrokenBarrierError.
  /// Suspends only to take the barrier's internal lock.
  Coroutine<> reset();
  /// Breaks the barrier: waiting tasks and later wait() calls get
  /// BrokenBarrierError until reset(). Suspends only for the internal lock.
  Coroutine<> abort();

  /// The number of tasks it takes to trip the barrier.
  std::ptrdiff_t parties() const noexcept { return parties_; }
  /// The number of tasks waiting while it fills (0 while draining/broken).
  std::ptrdiff_t n_waiting() const noexcept { return state_ == State::filling ? count_ : 0; }
  /// True after abort(), until reset().
  bool broken() const noexcept { return state_ == State::broken; }
  /// `<asyncio.locks.Barrier object at 0x... [draining, waiters:0/3]>`: the
  /// state (filling, draining, resetting, broken) and, unless broken,
  /// n_waiting()/parties(), as CPython 3.13.
  std::string repr() const;

 private:
  friend struct detail::SyncTestAccess;
  enum class State { filling, draining, resetting, broken };
  void exit_one() noexcept;

  Condition cond_;
  std::ptrdiff_t parties_;
  std::ptrdiff_t count_ = 0;
  State state_ = State::filling;
};

}  // namespace asyncio

#endif  // ASYNCIO_LOCKS_HPP
