// asyncio-cpp: SPDX-License-Identifier: MIT
// What locks.hpp and queues.hpp share: the waiter queues (CPython's
// `_waiters` / `_getters` / `_putters` deques of futures) and the lazy loop
// binding of Lib/asyncio/mixins.py.
#ifndef ASYNCIO_DETAIL_WAITERS_HPP
#define ASYNCIO_DETAIL_WAITERS_HPP

#include <asyncio/detail/frame_allocator.hpp>
#include <asyncio/detail/future_core.hpp>
#include <asyncio/detail/loop_core.hpp>
#include <asyncio/futures.hpp>

#include <cstddef>

namespace asyncio::detail {

/// Friend of every primitive and queue: gives the tests what CPython's tests
/// read from private fields (`lock._waiters`, `sem._value`...). Defined by
/// the tests only.
struct SyncTestAccess;

class WaiterList;

/// A `Future[None]` that one task suspends on inside a primitive; linked
/// into at most one WaiterList. Counted like any future: the WaitEntry that
/// created it holds one reference, the task awaiting it another.
class Waiter final : public FutureCore {
 public:
  /// Asked, when the wake-up is about to resume the waiting task, whether
  /// the wake-up went stale meanwhile; if so it re-queues the waiter (see
  /// rearm()) and returns true, and the task stays suspended.
  using Recheck = bool (*)(void* owner, Waiter& w) noexcept;

  explicit Waiter(LoopCore* loop, Recheck recheck = nullptr, void* owner = nullptr) noexcept
      : FutureCore(loop), recheck_(recheck), owner_(owner) {}

  /// `if not fut.done(): fut.set_result(None)`; true if this call woke it.
  bool wake() noexcept {
    if (done()) return false;
    finish_result();
    return true;
  }
  /// Done and not cancelled: a primitive woke it.
  bool woken() const noexcept { return done() && !cancelled(); }
  /// A woken waiter, pending again: for a Recheck that re-queues it.
  void rearm() noexcept { state_ = State::pending; }
  /// No more rechecks (the owner is going away).
  void stop_rechecks() noexcept { recheck_ = nullptr; }

  /// The wake-up (this future's batch of done-callbacks, i.e. the waiting
  /// task) runs here; a Recheck may turn it into a wait at the back of the
  /// line instead, exactly where the woken task would have re-queued itself.
  void run_ready(bool discard) noexcept override {
    if (!discard && recheck_ && woken() && !callbacks_.empty() && recheck_(owner_, *this)) {
      decref();  // the batch's reference
      return;
    }
    FutureCore::run_ready(discard);
  }

  static void* operator new(std::size_t n) { return allocate_frame(n); }
  static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

 private:
  friend class WaiterList;
  void destroy() noexcept override { delete this; }

  Waiter* prev_ = nullptr;
  Waiter* next_ = nullptr;
  WaiterList* list_ = nullptr;
  Recheck recheck_;
  void* owner_;
};

/// A FIFO of waiters, intrusive (linking and unlinking never allocate, and
/// removing a waiter from the middle is O(1) where CPython's deque.remove is
/// O(n)). It does not own the waiters: whoever linked one unlinks it, or the
/// list's destructor does (a primitive destroyed while waited on leaves its
/// waiters pending, but never dangling).
class WaiterList {
 public:
  WaiterList() noexcept = default;
  WaiterList(const WaiterList&) = delete;
  WaiterList& operator=(const WaiterList&) = delete;
  ~WaiterList() {
    while (head_) remove(*head_);
  }

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  Waiter* front() const noexcept { return head_; }

  void push_back(Waiter& w) noexcept {
    w.list_ = this;
    w.prev_ = tail_;
    w.next_ = nullptr;
    if (tail_)
      tail_->next_ = &w;
    else
      head_ = &w;
    tail_ = &w;
    ++size_;
  }
  /// Unlinks `w`, which must be in this list.
  void remove(Waiter& w) noexcept {
    (w.prev_ ? w.prev_->next_ : head_) = w.next_;
    (w.next_ ? w.next_->prev_ : tail_) = w.prev_;
    w.prev_ = w.next_ = nullptr;
    w.list_ = nullptr;
    --size_;
  }
  /// Unlinks `w` from whatever list holds it, if any.
  static void unlink(Waiter& w) noexcept {
    if (w.list_) w.list_->remove(w);
  }

  /// Wakes up to `n` waiters that are not done yet, in order, leaving them
  /// linked (Event.set, Condition._notify, Semaphore._wake_up_next).
  /// Returns how many it woke.
  std::size_t wake(std::size_t n) noexcept {
    std::size_t woken = 0;
    for (Waiter* w = head_; w && woken < n; w = w->next_) woken += w->wake();
    return woken;
  }
  /// Queue._wakeup_next: unlinks waiters from the front until one was not
  /// done yet, and wakes that one.
  void pop_wake_one() noexcept {
    while (Waiter* w = head_) {
      remove(*w);
      if (w->wake()) return;
    }
  }
  /// True when every waiter is cancelled (and when there are none).
  bool all_cancelled() const noexcept {
    for (Waiter* w = head_; w; w = w->next_)
      if (!w->cancelled()) return false;
    return true;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

/// One wait of the current task in a WaiterList (≙ `fut =
/// loop.create_future(); waiters.append(fut)`, then `await fut`, with
/// `waiters.remove(fut)` in a `finally`): a local of the waiting coroutine,
/// or a member of a frame-free operation that lives in the awaiting frame.
/// The destructor unlinks, also when that frame is destroyed while
/// suspended.
class WaitEntry {
 public:
  struct Nothing {
    void operator()() const noexcept {}
  };
  /// FutureAwaiter, with a short way out for the usual end of a wait: the
  /// waiter was woken and the task has no cancellation pending, so neither
  /// can throw and there is nothing to deliver.
  class Awaiter : public FutureAwaiter<Nothing> {
   public:
    explicit Awaiter(Waiter* w) noexcept : FutureAwaiter<Nothing>(w, {}), w_(w) {}
    void await_resume() {
      if (w_->woken() && !tls.running->current_task->must_cancel_pending()) return;
      FutureAwaiter<Nothing>::await_resume();
    }

   private:
    Waiter* w_;
  };

  WaitEntry(WaiterList& list, LoopCore* loop, Waiter::Recheck recheck = nullptr, void* owner = nullptr)
      : w_(new Waiter(loop, recheck, owner)) {
    list.push_back(*w_);
  }
  WaitEntry(const WaitEntry&) = delete;
  WaitEntry& operator=(const WaitEntry&) = delete;
  ~WaitEntry() {
    w_->stop_rechecks();
    WaiterList::unlink(*w_);
    w_->decref();
  }

  /// Suspends the current task until the waiter is woken. Throws
  /// CancelledError when the task is cancelled (also after a wake-up that
  /// has not run yet: woken() then tells).
  Awaiter operator co_await() const noexcept { return Awaiter(w_); }
  /// Unlinks now (≙ the `finally: waiters.remove(fut)` that runs before an
  /// `except` clause); the destructor would do it later.
  void remove() noexcept { WaiterList::unlink(*w_); }
  bool woken() const noexcept { return w_->woken(); }

 private:
  Waiter* w_;
};

/// ≙ mixins._LoopBoundMixin: a primitive binds to the running loop the first
/// time it needs one (to create a waiter), and refuses any other loop after.
/// Holds a reference to the loop's core, so the identity stays meaningful.
class LoopBinding {
 public:
  LoopBinding() noexcept = default;
  LoopBinding(const LoopBinding&) = delete;
  LoopBinding& operator=(const LoopBinding&) = delete;
  ~LoopBinding() {
    if (loop_) loop_->decref();
  }
  /// The running loop. RuntimeError("no running event loop") outside one;
  /// RuntimeError("<asyncio.NAME object at 0x...> is bound to a different
  /// event loop") on another loop than the first one. `self` and `name`
  /// only make the message.
  LoopCore* get(const void* self, const char* name) {
    if (loop_ && tls.running == loop_) [[likely]]
      return loop_;
    return bind(self, name);
  }

 private:
  LoopCore* bind(const void* self, const char* name);
  LoopCore* loop_ = nullptr;
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_WAITERS_HPP
