// Tests for include/asyncio/locks.hpp (spec §7; catalogue §14 G, area 7),
// ported from CPython v3.13.0 Lib/test/test_asyncio/test_locks.py, plus the
// rest of that file's behavioural tests (unnumbered), the misuses of spec
// §0.2 with their messages, and stress tests.
//
// CPython's tests read private fields (`lock._waiters`, `sem._value`,
// `barrier._count`); detail::SyncTestAccess gives the same facts here.
// For asyncio.wait_for and asyncio.timeout, local_wait_for() does what 3.12's
// wait_for does (the awaitable runs in the caller's task, which is cancelled
// at the deadline; CancelledError becomes TimeoutError), so that these tests
// need only the core. TaskGroup blocks without failures are gathers of the
// same tasks.
//
// GCC 12.2 skips the body of a coroutine whose only frame state is an
// `if (co_await ...)` condition: a co_await result is always stored in a
// local first here.
#include <asyncio/locks.hpp>

#include "asyncio_test.hpp"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asyncio::detail {
struct SyncTestAccess {
  static std::size_t waiters(const Lock& l) { return l.waiters_.size(); }
  static std::size_t waiters(const Event& e) { return e.waiters_.size(); }
  static std::size_t waiters(const Condition& c) { return c.waiters_.size(); }
  static std::size_t waiters(const Semaphore& s) { return s.waiters_.size(); }
  static bool first_waiter_cancelled(const Lock& l) { return l.waiters_.front() && l.waiters_.front()->cancelled(); }
  static std::ptrdiff_t value(const Semaphore& s) { return s.value_; }
  static std::ptrdiff_t count(const Barrier& b) { return b.count_; }
  static std::string state(const Barrier& b) {
    switch (b.state_) {
      case Barrier::State::filling:
        return "filling";
      case Barrier::State::draining:
        return "draining";
      case Barrier::State::resetting:
        return "resetting";
      case Barrier::State::broken:
        return "broken";
    }
    return "?";
  }
};
}  // namespace asyncio::detail

using namespace asyncio;
using asyncio_test::run_test;
using asyncio_test::TestLoop;
using Access = asyncio::detail::SyncTestAccess;
using Ints = std::vector<int>;

namespace {

template <class T>
void cancel_soon(Task<T> t) {
  get_running_loop().call_soon([t]() mutable { t.cancel(); });
}

/// `with self.assertRaises(asyncio.CancelledError): await t`
template <class T>
Coroutine<> expect_cancelled(Task<T> t) {
  try {
    co_await t;
    ADD_FAILURE() << "expected CancelledError";
  } catch (const CancelledError&) {
  }
}

/// The test_*_cancel cases: a wait cancelled from a callback raises
/// CancelledError in its task and leaves no waiter behind.
template <class P>
Coroutine<> cancel_pending_wait(P* p, Coroutine<bool> wait) {
  Task<bool> task = create_task(std::move(wait));
  cancel_soon(task);
  co_await expect_cancelled(task);
  EXPECT_EQ(Access::waiters(*p), 0u);
}

/// test_acquire_cancel (Lock, Semaphore) and test_wait_cancel (Condition):
/// with the primitive held, a wait cancelled from a callback leaves no
/// waiter, and the primitive is held still.
template <class P, class Wait>
void cancel_wait_while_held(P& p, Wait wait) {
  run_test([](P& p, Wait wait) -> Coroutine<> {
    const bool acquired = co_await p.acquire();
    EXPECT_TRUE(acquired);
    co_await cancel_pending_wait(&p, wait(p));
    EXPECT_TRUE(p.locked());
  }(p, wait));
}

/// ≙ `await asyncio.wait(tasks)`: until every task is done, whatever its outcome.
Coroutine<> wait_all(std::vector<TaskRef> tasks) {
  for (const TaskRef& t : tasks)
    while (!t.done()) co_await asyncio::sleep(0);
}

/// ≙ asyncio.wait_for(aw, timeout) of 3.12+: `aw` runs in this task; at the
/// deadline this task is cancelled and the CancelledError becomes
/// TimeoutError.
template <class T>
Coroutine<T> local_wait_for(Coroutine<T> aw, double timeout) {
  auto expired = std::make_shared<bool>(false);
  TaskRef self = current_task();
  TimerHandle timer = get_running_loop().call_later(timeout, [self, expired]() mutable {
    *expired = true;
    self.cancel();
  });
  try {
    if constexpr (std::is_void_v<T>) {
      co_await aw;
      timer.cancel();
    } else {
      T value = co_await aw;
      timer.cancel();
      co_return value;
    }
  } catch (const CancelledError&) {
    timer.cancel();
    if (*expired && self.uncancel() == 0) throw TimeoutError();
    throw;
  }
}

Coroutine<bool> acquire_and_record(Lock* lock, Ints* result, int tag) {
  const bool acquired = co_await lock->acquire();
  if (acquired) result->push_back(tag);
  co_return true;
}

}  // namespace

// ===================================================================== Lock

// test_acquire: waiters are served in FIFO order.
TEST(Lock, AcquireFifo) {
  Lock lock;
  Ints result;
  run_test([](Lock& lock, Ints& result) -> Coroutine<> {
    {
      const bool ok = co_await lock.acquire();
      EXPECT_TRUE(ok);
    }
    Task<bool> t1 = create_task(acquire_and_record(&lock, &result, 1));
    Task<bool> t2 = create_task(acquire_and_record(&lock, &result, 2));
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});
    lock.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{1});
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{1});
    Task<bool> t3 = create_task(acquire_and_record(&lock, &result, 3));
    lock.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, (Ints{1, 2}));
    lock.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, (Ints{1, 2, 3}));
    for (Task<bool>* t : {&t1, &t2, &t3}) {
      EXPECT_TRUE(t->done());
      EXPECT_TRUE(t->result());
    }
  }(lock, result));
}

// 199. test_acquire_cancel
TEST(Lock, Cat199_AcquireCancel) {
  Lock lock;
  cancel_wait_while_held(lock, [](Lock& l) { return l.acquire(); });
}

namespace {
// `lockit(name, blocker)` of test_cancel_race.
Coroutine<> lockit(Lock* lock, Future<> blocker) {
  co_await lock->acquire();
  try {
    if (blocker) co_await blocker;
  } catch (...) {
    lock->release();
    throw;
  }
  lock->release();
}
}  // namespace

// 200. test_cancel_race: B is cancelled while A releases; C must get the lock.
TEST(Lock, Cat200_CancelRace) {
  Lock lock;
  run_test([](Lock& lock) -> Coroutine<> {
    Future<> fa = get_running_loop().create_future();
    Task<> ta = create_task(lockit(&lock, fa));
    co_await asyncio::sleep(0);
    EXPECT_TRUE(lock.locked());
    Task<> tb = create_task(lockit(&lock, Future<>()));
    co_await asyncio::sleep(0);
    EXPECT_EQ(Access::waiters(lock), 1u);
    Task<> tc = create_task(lockit(&lock, Future<>()));
    co_await asyncio::sleep(0);
    EXPECT_EQ(Access::waiters(lock), 2u);

    fa.set_result();
    tb.cancel();
    EXPECT_TRUE(Access::first_waiter_cancelled(lock));
    co_await asyncio::sleep(0);
    EXPECT_FALSE(lock.locked());
    EXPECT_TRUE(ta.done());
    EXPECT_TRUE(tb.cancelled());
    co_await tc;
  }(lock));
}

namespace {
Coroutine<> lockit_counting(Lock* lock, int* lock_count, int* call_count) {
  ++*call_count;
  co_await lock->acquire();
  ++*lock_count;
}
}  // namespace

// 201. test_cancel_release_race (bpo-32734): cancel the first waiter and
// release in one callback: exactly one task takes the lock.
TEST(Lock, Cat201_CancelReleaseRace) {
  Lock lock;
  run_test([](Lock& lock) -> Coroutine<> {
    int lock_count = 0, call_count = 0;
    co_await lock.acquire();
    Task<> t1 = create_task(lockit_counting(&lock, &lock_count, &call_count));
    Task<> t2 = create_task(lockit_counting(&lock, &lock_count, &call_count));
    Task<> t3 = create_task(lockit_counting(&lock, &lock_count, &call_count));
    co_await asyncio::sleep(0);  // start them
    get_running_loop().call_soon([&] {
      t1.cancel();
      lock.release();
    });
    co_await expect_cancelled(t1);
    EXPECT_EQ(lock_count, 1);
    EXPECT_EQ(call_count, 3);
    EXPECT_TRUE(t1.cancelled() && t2.done());
    t3.cancel();  // the one still stuck in acquire()
    co_await asyncio::sleep(0);
    EXPECT_TRUE(t3.cancelled());
  }(lock));
}

// test_finished_waiter_cancelled: a waiter cancelled right after being woken
// passes the wake-up to the next one.
TEST(Lock, FinishedWaiterCancelled) {
  Lock lock;
  run_test([](Lock& lock) -> Coroutine<> {
    co_await lock.acquire();
    EXPECT_TRUE(lock.locked());
    Task<bool> tb = create_task(lock.acquire());
    co_await asyncio::sleep(0);
    EXPECT_EQ(Access::waiters(lock), 1u);
    Task<bool> tc = create_task(lock.acquire());
    tb.cancel();
    lock.release();
    co_await asyncio::sleep(0);
    EXPECT_TRUE(lock.locked());
    EXPECT_TRUE(tb.cancelled());
    {
      const bool ok = co_await tc;
      EXPECT_TRUE(ok);
    }
  }(lock));
}

// Woken first, then cancelled before it ran: the wake-up is not lost.
TEST(Lock, WokenWaiterCancelledPassesWakeUp) {
  Lock lock;
  Ints result;
  run_test([](Lock& lock, Ints& result) -> Coroutine<> {
    co_await lock.acquire();
    Task<bool> t1 = create_task(acquire_and_record(&lock, &result, 1));
    Task<bool> t2 = create_task(acquire_and_record(&lock, &result, 2));
    co_await asyncio::sleep(0);
    lock.release();  // wakes t1 ...
    t1.cancel();     // ... which is cancelled before it runs
    co_await expect_cancelled(t1);
    co_await t2;
    EXPECT_EQ(result, Ints{2});
    EXPECT_TRUE(lock.locked());
    EXPECT_EQ(Access::waiters(lock), 0u);
  }(lock, result));
}

// No barging: a task that calls acquire() between a release and the woken
// waiter's turn queues behind that waiter.
TEST(Lock, NoBargingAfterRelease) {
  Lock lock;
  Ints result;
  run_test([](Lock& lock, Ints& result) -> Coroutine<> {
    co_await lock.acquire();
    Task<bool> t1 = create_task(acquire_and_record(&lock, &result, 1));
    co_await asyncio::sleep(0);
    lock.release();
    EXPECT_FALSE(lock.locked());
    Task<bool> t2 = create_task(acquire_and_record(&lock, &result, 2));
    co_await t1;
    EXPECT_EQ(result, Ints{1});
    lock.release();
    co_await t2;
    EXPECT_EQ(result, (Ints{1, 2}));
    lock.release();
  }(lock, result));
}

// 203. test_release_not_acquired
TEST(Lock, Cat203_ReleaseNotAcquired) {
  Lock lock;
  EXPECT_THROW_MSG(lock.release(), RuntimeError, "Lock is not acquired.");
}

// 204. test_release_no_waiters
TEST(Lock, Cat204_ReleaseNoWaiters) {
  run_test([]() -> Coroutine<> {
    Lock lock;
    co_await lock.acquire();
    EXPECT_TRUE(lock.locked());
    lock.release();
    EXPECT_FALSE(lock.locked());
  }());
}

// 205. test_context_manager: `async with lock:`
TEST(Lock, Cat205_ContextManager) {
  run_test([]() -> Coroutine<> {
    Lock lock;
    EXPECT_FALSE(lock.locked());
    {
      auto held = co_await lock.guard();
      EXPECT_TRUE(lock.locked());
      EXPECT_TRUE(held.owns_lock());
    }
    EXPECT_FALSE(lock.locked());
  }());
}

// The guard releases on the way out of an exception, and early on request.
TEST(Lock, GuardReleasesOnExceptionAndEarly) {
  run_test([]() -> Coroutine<> {
    Lock lock;
    try {
      auto held = co_await lock.guard();
      throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    EXPECT_FALSE(lock.locked());
    auto held = co_await lock.guard();
    held.release();
    EXPECT_FALSE(held.owns_lock());
    EXPECT_FALSE(lock.locked());
    EXPECT_THROW_MSG(lock.release(), RuntimeError, "Lock is not acquired.");
    LockGuard<Lock> moved = co_await lock.guard();
    LockGuard<Lock> other(std::move(moved));
    EXPECT_FALSE(moved.owns_lock());
    EXPECT_TRUE(lock.locked());
  }());
}

// A guard whose lock was released behind its back cannot throw from its
// destructor: the RuntimeError goes to the loop's exception handler.
TEST(Lock, GuardReleaseErrorIsReported) {
  TestLoop t;
  Lock lock;
  t.loop.run_until_complete([](Lock& lock) -> Coroutine<> {
    auto held = co_await lock.guard();
    lock.release();
  }(lock));
  ASSERT_EQ(t.log.calls.size(), 1u);
  EXPECT_EQ(t.log.calls[0].message, "Exception in LockGuard release");
  EXPECT_EXC(t.log.calls[0].exception, RuntimeError, "Lock is not acquired.");
}

// Any task may release (no ownership), as in CPython.
TEST(Lock, AnyTaskMayRelease) {
  Lock lock;
  run_test([](Lock& lock) -> Coroutine<> {
    co_await lock.acquire();
    co_await create_task([](Lock* l) -> Coroutine<> {
      l->release();
      co_return;
    }(&lock));
    EXPECT_FALSE(lock.locked());
  }(lock));
}

// ==================================================================== Event

namespace {
Coroutine<> wait_and_record(Event* ev, Ints* result, int tag) {
  const bool set = co_await ev->wait();
  if (set) result->push_back(tag);
}
Coroutine<bool> wait_record_true(Event* ev, Ints* result, int tag) {
  co_await wait_and_record(ev, result, tag);
  co_return true;
}
}  // namespace

// test_wait: waiters resume in FIFO order, behind a task already queued.
TEST(Event, WaitOrder) {
  Event ev;
  Ints result;
  run_test([](Event& ev, Ints& result) -> Coroutine<> {
    EXPECT_FALSE(ev.is_set());
    Task<> t1 = create_task(wait_and_record(&ev, &result, 1));
    Task<> t2 = create_task(wait_and_record(&ev, &result, 2));
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});
    Task<> t3 = create_task(wait_and_record(&ev, &result, 3));
    ev.set();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, (Ints{3, 1, 2}));
    EXPECT_TRUE(t1.done() && t2.done() && t3.done());
  }(ev, result));
}

// 207. test_wait_on_set
TEST(Event, Cat207_WaitOnSet) {
  run_test([]() -> Coroutine<> {
    Event ev;
    ev.set();
    {
      const bool ok = co_await ev.wait();
      EXPECT_TRUE(ok);
    }
  }());
}

// test_wait_cancel: a cancelled wait() leaves no waiter.
TEST(Event, WaitCancel) {
  Event ev;
  run_test([](Event& ev) -> Coroutine<> {
    co_await cancel_pending_wait(&ev, ev.wait());
  }(ev));
}

// 209. test_clear
TEST(Event, Cat209_Clear) {
  Event ev;
  EXPECT_FALSE(ev.is_set());
  ev.set();
  EXPECT_TRUE(ev.is_set());
  ev.clear();
  EXPECT_FALSE(ev.is_set());
}

// 210. test_clear_with_waiters: clear() does not un-wake a woken waiter.
TEST(Event, Cat210_ClearWithWaiters) {
  Event ev;
  Ints result;
  run_test([](Event& ev, Ints& result) -> Coroutine<> {
    Task<bool> t = create_task(wait_record_true(&ev, &result, 1));
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});
    ev.set();
    ev.clear();
    EXPECT_FALSE(ev.is_set());
    ev.set();
    ev.set();
    EXPECT_EQ(Access::waiters(ev), 1u);
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{1});
    EXPECT_EQ(Access::waiters(ev), 0u);
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.result());
  }(ev, result));
}

// ================================================================ Condition

namespace {
// c1..c3 of test_wait: acquire, wait, record; the lock stays held.
Coroutine<bool> cond_wait_record(Condition* cond, Ints* result, int tag) {
  co_await cond->acquire();
  const bool notified = co_await cond->wait();
  if (notified) result->push_back(tag);
  co_return true;
}
// c1..c3 of test_notify: the same, releasing after recording.
Coroutine<bool> cond_wait_record_release(Condition* cond, Ints* result, int tag) {
  co_await cond->acquire();
  const bool notified = co_await cond->wait();
  if (notified) {
    result->push_back(tag);
    cond->release();
  }
  co_return true;
}
}  // namespace

// test_wait: a notified waiter returns only once it has re-taken the lock.
TEST(Condition, Wait) {
  Condition cond;
  Ints result;
  run_test([](Condition& cond, Ints& result) -> Coroutine<> {
    Task<bool> t1 = create_task(cond_wait_record(&cond, &result, 1));
    Task<bool> t2 = create_task(cond_wait_record(&cond, &result, 2));
    Task<bool> t3 = create_task(cond_wait_record(&cond, &result, 3));
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});
    EXPECT_FALSE(cond.locked());

    {
      const bool ok = co_await cond.acquire();
      EXPECT_TRUE(ok);
    }
    cond.notify();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});
    EXPECT_TRUE(cond.locked());

    cond.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{1});
    EXPECT_TRUE(cond.locked());

    cond.notify(2);
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{1});
    EXPECT_TRUE(cond.locked());

    cond.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, (Ints{1, 2}));
    EXPECT_TRUE(cond.locked());

    cond.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, (Ints{1, 2, 3}));
    EXPECT_TRUE(cond.locked());
    for (Task<bool>* t : {&t1, &t2, &t3}) EXPECT_TRUE(t->done() && t->result());
    cond.release();
  }(cond, result));
}

// 212. test_wait_cancel: the lock is held again after a cancelled wait().
TEST(Condition, Cat212_WaitCancel) {
  Condition cond;
  cancel_wait_while_held(cond, [](Condition& c) { return c.wait(); });
}

// 213. test_wait_cancel_contested: notified, then cancelled while the lock
// is contested: the waiter ends (here: cancelled) with the lock re-taken.
TEST(Condition, Cat213_WaitCancelContested) {
  Condition cond;
  run_test([](Condition& cond) -> Coroutine<> {
    co_await cond.acquire();
    EXPECT_TRUE(cond.locked());
    Task<bool> wait_task = create_task(cond.wait());
    co_await asyncio::sleep(0);
    EXPECT_FALSE(cond.locked());

    co_await cond.acquire();
    EXPECT_TRUE(cond.locked());
    cond.notify();
    cancel_soon(wait_task);
    get_running_loop().call_soon([&cond] { cond.release(); });
    try {
      co_await wait_task;
    } catch (const CancelledError&) {
    }
    EXPECT_TRUE(wait_task.cancelled());  // as CPython 3.12.1 and 3.13.0 end
    EXPECT_TRUE(cond.locked());
  }(cond));
}

// test_wait_cancel_after_notify (bpo-32841)
TEST(Condition, WaitCancelAfterNotify) {
  Condition cond;
  bool waited = false;
  run_test([](Condition& cond, bool& waited) -> Coroutine<> {
    Task<> waiter = create_task([](Condition* cond, bool* waited) -> Coroutine<> {
      auto held = co_await cond->guard();
      *waited = true;
      co_await cond->wait();
    }(&cond, &waited));
    co_await asyncio::sleep(0);  // start waiting
    co_await cond.acquire();
    cond.notify();
    co_await asyncio::sleep(0);  // get to acquire()
    waiter.cancel();
    co_await asyncio::sleep(0);  // activate the cancellation
    cond.release();
    co_await asyncio::sleep(0);  // the cancellation happens
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_TRUE(waited);
  }(cond, waited));
}

// test_wait_unacquired
TEST(Condition, WaitUnacquired) {
  run_test([]() -> Coroutine<> {
    Condition cond;
    try {
      co_await cond.wait();
      ADD_FAILURE() << "expected RuntimeError";
    } catch (const RuntimeError& e) {
      EXPECT_STREQ(e.what(), "cannot wait on un-acquired lock");
    }
  }());
}

namespace {
Coroutine<bool> cond_wait_for_record(Condition* cond, const bool* presult, Ints* result) {
  co_await cond->acquire();
  const bool ready = co_await cond->wait_for([presult] { return *presult; });
  if (ready) {
    result->push_back(1);
    cond->release();
  }
  co_return true;
}
}  // namespace

// 216. test_wait_for
TEST(Condition, Cat216_WaitFor) {
  Condition cond;
  bool presult = false;
  Ints result;
  run_test([](Condition& cond, bool& presult, Ints& result) -> Coroutine<> {
    Task<bool> t = create_task(cond_wait_for_record(&cond, &presult, &result));
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});

    co_await cond.acquire();
    cond.notify();
    cond.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});

    presult = true;
    co_await cond.acquire();
    cond.notify();
    cond.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{1});
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.result());
  }(cond, presult, result));
}

// 217. test_wait_for_unacquired: a true predicate needs no lock; a false one does.
TEST(Condition, Cat217_WaitForUnacquired) {
  run_test([]() -> Coroutine<> {
    Condition cond;
    auto res = co_await cond.wait_for([] { return std::optional<Ints>(Ints{1, 2, 3}); });
    EXPECT_EQ(res, (std::optional<Ints>(Ints{1, 2, 3})));
    try {
      co_await cond.wait_for([] { return false; });
      ADD_FAILURE() << "expected RuntimeError";
    } catch (const RuntimeError& e) {
      EXPECT_STREQ(e.what(), "cannot wait on un-acquired lock");
    }
  }());
}

// 218. test_notify: notify(n) wakes n waiters, FIFO; notify(2048) wakes all.
TEST(Condition, Cat218_Notify) {
  Condition cond;
  Ints result;
  run_test([](Condition& cond, Ints& result) -> Coroutine<> {
    Task<bool> t1 = create_task(cond_wait_record_release(&cond, &result, 1));
    Task<bool> t2 = create_task(cond_wait_record_release(&cond, &result, 2));
    Task<bool> t3 = create_task(cond_wait_record_release(&cond, &result, 3));
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});

    co_await cond.acquire();
    cond.notify(1);
    cond.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{1});

    co_await cond.acquire();
    cond.notify(1);
    cond.notify(2048);
    cond.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, (Ints{1, 2, 3}));
    for (Task<bool>* t : {&t1, &t2, &t3}) EXPECT_TRUE(t->done() && t->result());
  }(cond, result));
}

// 219. test_notify_all
TEST(Condition, Cat219_NotifyAll) {
  Condition cond;
  Ints result;
  run_test([](Condition& cond, Ints& result) -> Coroutine<> {
    Task<bool> t1 = create_task(cond_wait_record_release(&cond, &result, 1));
    Task<bool> t2 = create_task(cond_wait_record_release(&cond, &result, 2));
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{});
    co_await cond.acquire();
    cond.notify_all();
    cond.release();
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, (Ints{1, 2}));
    EXPECT_TRUE(t1.done() && t1.result());
    EXPECT_TRUE(t2.done() && t2.result());
  }(cond, result));
}

// 220. test_notify_unacquired, test_notify_all_unacquired
TEST(Condition, Cat220_NotifyUnacquired) {
  Condition cond;
  EXPECT_THROW_MSG(cond.notify(), RuntimeError, "cannot notify on un-acquired lock");
  EXPECT_THROW_MSG(cond.notify_all(), RuntimeError, "cannot notify on un-acquired lock");
}

// test_context_manager: `async with cond:`
TEST(Condition, ContextManager) {
  run_test([]() -> Coroutine<> {
    Condition cond;
    EXPECT_FALSE(cond.locked());
    {
      auto held = co_await cond.guard();
      EXPECT_TRUE(cond.locked());
    }
    EXPECT_FALSE(cond.locked());
  }());
}

namespace {
Coroutine<> explicit_lock_case(Lock* lock, Condition* cond) {
  EXPECT_FALSE(lock->locked());
  EXPECT_FALSE(cond->locked());
  {
    auto held = co_await cond->guard();
    EXPECT_TRUE(lock->locked());
    EXPECT_TRUE(cond->locked());
  }
  EXPECT_FALSE(lock->locked());
  EXPECT_FALSE(cond->locked());
  {
    auto held = co_await lock->guard();
    EXPECT_TRUE(lock->locked());
    EXPECT_TRUE(cond->locked());
  }
  EXPECT_FALSE(lock->locked());
  EXPECT_FALSE(cond->locked());
}
}  // namespace

// 221. test_explicit_lock: Condition(lock) shares the lock both ways.
TEST(Condition, Cat221_ExplicitLock) {
  run_test([]() -> Coroutine<> {
    Lock lock1;
    Condition cond1(lock1);
    co_await explicit_lock_case(&lock1, &cond1);
    Lock lock2;
    Condition cond2(lock2);
    co_await explicit_lock_case(&lock2, &cond2);
    // Two conditions on one lock.
    Condition cond3(lock2);
    {
      auto held = co_await cond2.guard();
      EXPECT_TRUE(cond3.locked());
    }
    EXPECT_FALSE(cond3.locked());
  }());
}

// 222. test_timeout_in_block: wait_for(condition.wait(), 0.5) times out
// inside `async with condition:`, and the block exits normally.
TEST(Condition, Cat222_TimeoutInBlock) {
  Condition condition;
  run_test([](Condition& condition) -> Coroutine<> {
    {
      auto held = co_await condition.guard();
      try {
        co_await local_wait_for(condition.wait(), 0.5);
        ADD_FAILURE() << "expected TimeoutError";
      } catch (const TimeoutError&) {
      }
      EXPECT_TRUE(condition.locked());
    }
    EXPECT_FALSE(condition.locked());
    EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.5);
  }(condition));
}

namespace {
// func() of test_cancelled_error_wakeup / _re_aquire: records the address
// of the CancelledError it saw, and lets it go on.
Coroutine<> wait_for_wake(Condition* cond, const bool* wake, const void** raised) {
  auto held = co_await cond->guard();
  try {
    co_await cond->wait_for([wake] { return *wake; });
    ADD_FAILURE() << "expected CancelledError";
  } catch (const CancelledError& e) {
    *raised = &e;
    throw;
  }
}

void expect_same_cancel(Task<>& task, const void* raised, const std::string& msg) {
  try {
    task.result();
    ADD_FAILURE() << "expected CancelledError";
  } catch (const CancelledError& e) {
    EXPECT_EQ(std::string(e.what()), msg);
    EXPECT_EQ(static_cast<const void*>(&e), raised) << "not the same CancelledError object";
  }
}
}  // namespace

// test_cancelled_error_wakeup (3.13): cancelled while waiting to be
// notified, the very CancelledError comes out of the task.
TEST(Condition, CancelledErrorWakeup) {
  Condition cond;
  bool wake = false;
  const void* raised = nullptr;
  run_test([](Condition& cond, bool& wake, const void*& raised) -> Coroutine<> {
    Task<> task = create_task(wait_for_wake(&cond, &wake, &raised));
    co_await asyncio::sleep(0);
    task.cancel("foo");
    std::vector<TaskRef> to_wait{task};
    co_await wait_all(std::move(to_wait));
    expect_same_cancel(task, raised, "foo");
    EXPECT_FALSE(cond.locked());
  }(cond, wake, raised));
}

// 224. test_cancelled_error_re_aquire (3.13): notified, then cancelled while
// re-acquiring the lock: the same CancelledError ('foo') propagates.
TEST(Condition, Cat224_CancelledErrorReAcquire) {
  Condition cond;
  bool wake = false;
  const void* raised = nullptr;
  run_test([](Condition& cond, bool& wake, const void*& raised) -> Coroutine<> {
    Task<> task = create_task(wait_for_wake(&cond, &wake, &raised));
    co_await asyncio::sleep(0);
    co_await cond.acquire();
    wake = true;
    cond.notify();
    co_await asyncio::sleep(0);  // the task now waits to re-take the lock
    task.cancel("foo");
    cond.release();
    std::vector<TaskRef> to_wait{task};
    co_await wait_all(std::move(to_wait));
    expect_same_cancel(task, raised, "foo");
    EXPECT_FALSE(cond.locked());
  }(cond, wake, raised));
}

namespace {
// consumer() of test_cancelled_wakeup*.
Coroutine<> state_consumer(Condition* condition, int* state) {
  auto held = co_await condition->guard();
  for (;;) {
    co_await condition->wait_for([state] { return *state != 0; });
    if (*state < 0) co_return;
    --*state;
  }
}

// The body shared by 225 and 226: produce one item, notify one consumer,
// cancel it (after a yield if `relock`), and check that the other consumer
// took the item.
Coroutine<> cancelled_wakeup(Condition& condition, int& state, bool relock) {
  Task<> c0 = create_task(state_consumer(&condition, &state));
  Task<> c1 = create_task(state_consumer(&condition, &state));
  co_await asyncio::sleep(0);  // let them settle
  {
    auto held = co_await condition.guard();
    ++state;
    condition.notify(1);
    if (relock) co_await asyncio::sleep(0);  // c0 now waits to re-take the lock
    c0.cancel();
    try {
      co_await local_wait_for(condition.wait_for([&state] { return state == 0; }), 0.01);
    } catch (const TimeoutError&) {
    }
    EXPECT_EQ(state, 0);  // the notification was not lost
    state = -1;
    condition.notify_all();
  }
  co_await c1;
  EXPECT_TRUE(c0.cancelled());
}
}  // namespace

// 225. test_cancelled_wakeup (3.13)
TEST(Condition, Cat225_CancelledWakeup) {
  Condition condition;
  int state = 0;
  run_test(cancelled_wakeup(condition, state, false));
}

// 226. test_cancelled_wakeup_relock (3.13)
TEST(Condition, Cat226_CancelledWakeupRelock) {
  Condition condition;
  int state = 0;
  run_test(cancelled_wakeup(condition, state, true));
}

// ================================================================ Semaphore

TEST(Semaphore, InitialValueZero) {
  Semaphore sem(0);
  EXPECT_TRUE(sem.locked());
}

// test_semaphore_value and spec §0.2
TEST(Semaphore, NegativeValue) {
  EXPECT_THROW_MSG(Semaphore(-1), std::invalid_argument, "Semaphore initial value must be >= 0");
  EXPECT_THROW_MSG(BoundedSemaphore(-1), std::invalid_argument, "Semaphore initial value must be >= 0");
}

namespace {
Coroutine<bool> sem_acquire_record(Semaphore* sem, Ints* result, int tag) {
  co_await sem->acquire();
  result->push_back(tag);
  co_return true;
}
}  // namespace

// 229. test_acquire: release() hands units to waiters at once (value stays 0).
TEST(Semaphore, Cat229_Acquire) {
  Semaphore sem(3);
  Ints result;
  run_test([](Semaphore& sem, Ints& result) -> Coroutine<> {
    {
      const bool ok = co_await sem.acquire();
      EXPECT_TRUE(ok);
    }
    {
      const bool ok = co_await sem.acquire();
      EXPECT_TRUE(ok);
    }
    EXPECT_FALSE(sem.locked());
    Task<bool> t1 = create_task(sem_acquire_record(&sem, &result, 1));
    Task<bool> t2 = create_task(sem_acquire_record(&sem, &result, 2));
    Task<bool> t3 = create_task(sem_acquire_record(&sem, &result, 3));
    co_await asyncio::sleep(0);
    EXPECT_EQ(result, Ints{1});
    EXPECT_TRUE(sem.locked());
    EXPECT_EQ(Access::waiters(sem), 2u);
    EXPECT_EQ(Access::value(sem), 0);

    Task<bool> t4 = create_task(sem_acquire_record(&sem, &result, 4));
    sem.release();
    sem.release();
    EXPECT_EQ(Access::value(sem), 0);
    co_await asyncio::sleep(0);
    EXPECT_EQ(Access::value(sem), 0);
    EXPECT_EQ(result.size(), 3u);
    EXPECT_TRUE(sem.locked());
    EXPECT_EQ(Access::waiters(sem), 1u);
    EXPECT_TRUE(t1.done() && t1.result());
    int done = 0;
    for (Task<bool>* t : {&t2, &t3, &t4}) done += t->done() && t->result();
    EXPECT_EQ(done, 2);

    sem.release();  // cleanup
    co_await gather(t2, t3, t4);
  }(sem, result));
}

// 230. test_acquire_cancel
TEST(Semaphore, Cat230_AcquireCancel) {
  Semaphore sem;
  cancel_wait_while_held(sem, [](Semaphore& s) { return s.acquire(); });
}

// 231. test_acquire_cancel_before_awoken
TEST(Semaphore, Cat231_AcquireCancelBeforeAwoken) {
  Semaphore sem(0);
  run_test([](Semaphore& sem) -> Coroutine<> {
    Task<bool> t1 = create_task(sem.acquire());
    Task<bool> t2 = create_task(sem.acquire());
    Task<bool> t3 = create_task(sem.acquire());
    Task<bool> t4 = create_task(sem.acquire());
    co_await asyncio::sleep(0);
    t1.cancel();
    t2.cancel();
    sem.release();
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    EXPECT_EQ(t3.done() + t4.done(), 1);
    EXPECT_TRUE(t3.done());
    EXPECT_FALSE(t4.done());
    t3.cancel();
    t4.cancel();
    co_await asyncio::sleep(0);
  }(sem));
}

// 232. test_acquire_hang
TEST(Semaphore, Cat232_AcquireHang) {
  Semaphore sem(0);
  run_test([](Semaphore& sem) -> Coroutine<> {
    Task<bool> t1 = create_task(sem.acquire());
    Task<bool> t2 = create_task(sem.acquire());
    co_await asyncio::sleep(0);
    t1.cancel();
    sem.release();
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    EXPECT_TRUE(sem.locked());
    EXPECT_TRUE(t2.done());
  }(sem));
}

namespace {
Coroutine<> hold_then_cancel(Semaphore* sem, Task<>* t2) {
  {
    auto held = co_await sem->guard();
    co_await asyncio::sleep(0);
  }
  t2->cancel();
}
Coroutine<> must_not_enter(Semaphore* sem) {
  auto held = co_await sem->guard();
  ADD_FAILURE() << "entered the semaphore";
}
}  // namespace

// 233. test_acquire_no_hang
TEST(Semaphore, Cat233_AcquireNoHang) {
  Semaphore sem(1);
  run_test([](Semaphore& sem) -> Coroutine<> {
    Task<> t2;
    Task<> t1 = create_task(hold_then_cancel(&sem, &t2));
    t2 = create_task(must_not_enter(&sem));
    auto [r1, r2] = co_await gather(return_exceptions, t1, t2);
    EXPECT_TRUE(r1.has_value());
    EXPECT_TRUE(asyncio_test::holds<CancelledError>(r2.exception()));
    {
      const bool ok = co_await local_wait_for(sem.acquire(), 1.0);
      EXPECT_TRUE(ok);
    }
  }(sem));
}

// 234. test_release_not_acquired
TEST(Semaphore, Cat234_ReleaseNotAcquired) {
  BoundedSemaphore sem;
  EXPECT_THROW_MSG(sem.release(), std::invalid_argument, "BoundedSemaphore released too many times");
  // Through a Semaphore reference too.
  Semaphore& base = sem;
  EXPECT_THROW_MSG(base.release(), std::invalid_argument, "BoundedSemaphore released too many times");
}

// 235. test_release_no_waiters
TEST(Semaphore, Cat235_ReleaseNoWaiters) {
  run_test([]() -> Coroutine<> {
    Semaphore sem;
    co_await sem.acquire();
    EXPECT_TRUE(sem.locked());
    sem.release();
    EXPECT_FALSE(sem.locked());
  }());
}

namespace {
Coroutine<> fifo_coro(Semaphore* sem, std::vector<std::string>* result, std::string tag) {
  co_await sem->acquire();
  result->push_back(tag + "_1");
  co_await asyncio::sleep(0.01);
  sem->release();
  co_await sem->acquire();
  result->push_back(tag + "_2");
  co_await asyncio::sleep(0.01);
  sem->release();
}
}  // namespace

// 236. test_acquire_fifo_order: a re-acquire queues behind the waiters.
TEST(Semaphore, Cat236_AcquireFifoOrder) {
  Semaphore sem(1);
  std::vector<std::string> result;
  run_test([](Semaphore& sem, std::vector<std::string>& result) -> Coroutine<> {
    co_await gather(fifo_coro(&sem, &result, "c1"), fifo_coro(&sem, &result, "c2"),
                    fifo_coro(&sem, &result, "c3"));
    EXPECT_EQ(result, (std::vector<std::string>{"c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"}));
  }(sem, result));
}

namespace {
Coroutine<bool> release_reacquire(Semaphore* sem, Ints* result) {
  co_await sem->acquire();
  result->push_back(2);
  sem->release();
  co_await sem->acquire();
  result->push_back(4);
  co_return true;
}
}  // namespace

// 237. test_acquire_fifo_order_2
TEST(Semaphore, Cat237_AcquireFifoOrder2) {
  Semaphore sem(1);
  Ints result;
  run_test([](Semaphore& sem, Ints& result) -> Coroutine<> {
    Task<bool> t1 = create_task(sem_acquire_record(&sem, &result, 1));
    Task<bool> t2 = create_task(release_reacquire(&sem, &result));
    Task<bool> t3 = create_task(sem_acquire_record(&sem, &result, 3));
    co_await asyncio::sleep(0);
    sem.release();
    sem.release();
    co_await gather(t1, t2, t3);
    EXPECT_EQ(result, (Ints{1, 2, 3, 4}));
  }(sem, result));
}

// 238. test_acquire_fifo_order_3
TEST(Semaphore, Cat238_AcquireFifoOrder3) {
  Semaphore sem(0);
  Ints result;
  run_test([](Semaphore& sem, Ints& result) -> Coroutine<> {
    Task<bool> t1 = create_task(sem_acquire_record(&sem, &result, 1));
    Task<bool> t2 = create_task(sem_acquire_record(&sem, &result, 2));
    Task<bool> t3 = create_task(sem_acquire_record(&sem, &result, 3));
    co_await asyncio::sleep(0);
    t1.cancel();
    co_await asyncio::sleep(0);
    sem.release();
    sem.release();
    co_await gather(return_exceptions, t1, t2, t3);
    EXPECT_EQ(result, (Ints{2, 3}));
  }(sem, result));
}

namespace {
struct Fifo4 {
  Semaphore sem{0};
  Ints result;
  Task<bool> t4;
};

Coroutine<bool> fifo4_c4(Fifo4* s) {
  s->result.push_back(4);
  co_return true;
}
Coroutine<bool> fifo4_c1(Fifo4* s) {
  EXPECT_EQ(Access::value(s->sem), 0);
  co_await s->sem.acquire();
  EXPECT_EQ(Access::value(s->sem), 0);  // it woke every waiting task
  s->t4 = create_task(fifo4_c4(s));     // runs after c3, not c2
  s->result.push_back(1);
  co_return true;
}
Coroutine<bool> fifo4_c2(Fifo4* s) {
  s->sem.release();
  s->sem.release();
  s->sem.release();
  EXPECT_EQ(Access::value(s->sem), 2);
  EXPECT_TRUE(s->sem.locked());  // c1 has not run yet
  co_await s->sem.acquire();
  s->result.push_back(2);
  co_return true;
}
Coroutine<bool> fifo4_c3(Fifo4* s) {
  co_await s->sem.acquire();
  EXPECT_TRUE(s->sem.locked());
  s->result.push_back(3);
  co_return true;
}
}  // namespace

// 239. test_acquire_fifo_order_4 (3.13): a successful acquire() wakes the
// tasks that queued behind it under the FIFO rule.
TEST(Semaphore, Cat239_AcquireFifoOrder4) {
  Fifo4 s;
  run_test([](Fifo4& s) -> Coroutine<> {
    Task<bool> t1 = create_task(fifo4_c1(&s));
    Task<bool> t2 = create_task(fifo4_c2(&s));
    Task<bool> t3 = create_task(fifo4_c3(&s));
    co_await asyncio::sleep(0);
    EXPECT_EQ(Access::value(s.sem), 2);
    EXPECT_EQ(Access::waiters(s.sem), 3u);
    co_await asyncio::sleep(0);
    co_await gather(t1, t2, t3, s.t4);
    EXPECT_EQ(s.result, (Ints{1, 2, 3, 4}));
  }(s));
}

// test_context_manager of the semaphores, and BoundedSemaphore in use.
TEST(Semaphore, GuardAndBounded) {
  run_test([]() -> Coroutine<> {
    BoundedSemaphore sem(2);
    {
      auto a = co_await sem.guard();
      auto b = co_await sem.guard();
      EXPECT_TRUE(sem.locked());
    }
    EXPECT_FALSE(sem.locked());
    EXPECT_THROW_MSG(sem.release(), std::invalid_argument, "BoundedSemaphore released too many times");
  }());
}

// ================================================================== Barrier

namespace {
constexpr int N = 5;

template <class F, class... A>
Coroutine<> gather_tasks(int n, F coro, A... args) {
  std::vector<Task<>> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(create_task(coro(args...)));
  co_await gather(std::move(tasks));
}
}  // namespace

// 240. test_barrier_parties
TEST(Barrier, Cat240_BarrierParties) {
  EXPECT_THROW_MSG(Barrier(0), std::invalid_argument, "parties must be > 0");
  EXPECT_THROW_MSG(Barrier(-4), std::invalid_argument, "parties must be > 0");
  Barrier b(N);
  EXPECT_EQ(b.parties(), N);
}

namespace {
Coroutine<> record_index(Barrier* barrier, std::vector<std::ptrdiff_t>* results) {
  results->push_back(co_await barrier->wait());
}
}  // namespace

// 241. test_context_manager: `async with barrier as i` gives 0..N-1.
TEST(Barrier, Cat241_ContextManager) {
  Barrier barrier(3);
  std::vector<std::ptrdiff_t> results;
  run_test(gather_tasks(3, record_index, &barrier, &results));
  std::sort(results.begin(), results.end());
  EXPECT_EQ(results, (std::vector<std::ptrdiff_t>{0, 1, 2}));
  EXPECT_EQ(barrier.n_waiting(), 0);
  EXPECT_FALSE(barrier.broken());
}

// 242. test_filling_one_task
TEST(Barrier, Cat242_FillingOneTask) {
  Barrier barrier(1);
  run_test([](Barrier& barrier) -> Coroutine<> {
    const std::ptrdiff_t index = co_await barrier.wait();
    EXPECT_EQ(index, 0);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_FALSE(barrier.broken());
  }(barrier));
}

// test_filling_one_task_twice
TEST(Barrier, FillingOneTaskTwice) {
  Barrier barrier(1);
  run_test([](Barrier& barrier) -> Coroutine<> {
    Task<std::ptrdiff_t> t1 = create_task(barrier.wait());
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 0);
    Task<std::ptrdiff_t> t2 = create_task(barrier.wait());
    co_await asyncio::sleep(0);
    EXPECT_EQ(t1.result(), t2.result());
    EXPECT_EQ(t1.done(), t2.done());
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_FALSE(barrier.broken());
  }(barrier));
}

// 244. test_filling_task_by_task
TEST(Barrier, Cat244_FillingTaskByTask) {
  Barrier barrier(3);
  run_test([](Barrier& barrier) -> Coroutine<> {
    Task<std::ptrdiff_t> t1 = create_task(barrier.wait());
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 1);
    EXPECT_EQ(Access::state(barrier), "filling");
    Task<std::ptrdiff_t> t2 = create_task(barrier.wait());
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 2);
    EXPECT_EQ(Access::state(barrier), "filling");
    Task<std::ptrdiff_t> t3 = create_task(barrier.wait());
    co_await asyncio::sleep(0);
    std::vector<TaskRef> to_wait{t1, t2, t3};
    co_await wait_all(std::move(to_wait));
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_FALSE(barrier.broken());
  }(barrier));
}

namespace {
Coroutine<> pass_twice(Barrier* barrier, std::vector<bool>* results) {
  co_await barrier->wait();
  results->push_back(true);
  co_await barrier->wait();
  results->push_back(false);
}
}  // namespace

// 245. test_filling_tasks_wait_twice
TEST(Barrier, Cat245_FillingTasksWaitTwice) {
  Barrier barrier(N);
  std::vector<bool> results;
  run_test(gather_tasks(N, pass_twice, &barrier, &results));
  EXPECT_EQ(results.size(), 2u * N);
  EXPECT_EQ(std::count(results.begin(), results.end(), true), N);
  EXPECT_EQ(std::count(results.begin(), results.end(), false), N);
  EXPECT_EQ(barrier.n_waiting(), 0);
  EXPECT_FALSE(barrier.broken());
}

namespace {
Coroutine<std::ptrdiff_t> pass_twice_index(Barrier* barrier, int* results1, int* results2) {
  co_await barrier->wait();
  ++*results1;
  std::ptrdiff_t i = co_await barrier->wait();
  ++*results2;
  co_return i;
}
}  // namespace

// test_filling_tasks_check_return_value
TEST(Barrier, FillingTasksCheckReturnValue) {
  Barrier barrier(N);
  int results1 = 0, results2 = 0;
  auto res = run_test([](Barrier& b, int& r1, int& r2) -> Coroutine<std::vector<std::ptrdiff_t>> {
    std::vector<Coroutine<std::ptrdiff_t>> coros;
    for (int i = 0; i < N; ++i) coros.push_back(pass_twice_index(&b, &r1, &r2));
    co_return co_await gather(std::move(coros));
  }(barrier, results1, results2));
  EXPECT_EQ(results1, N);
  EXPECT_EQ(results2, N);
  std::sort(res.begin(), res.end());
  EXPECT_EQ(res, (std::vector<std::ptrdiff_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(barrier.n_waiting(), 0);
  EXPECT_FALSE(barrier.broken());
}

namespace {
Coroutine<> record_draining(Barrier* barrier, std::vector<bool>* results) {
  co_await barrier->wait();
  results->push_back(Access::state(*barrier) == "draining");
}
}  // namespace

// test_draining_state: the barrier drains until the last task has left.
TEST(Barrier, DrainingState) {
  Barrier barrier(N);
  std::vector<bool> results;
  run_test(gather_tasks(N, record_draining, &barrier, &results));
  ASSERT_EQ(results.size(), static_cast<std::size_t>(N));
  EXPECT_FALSE(results.back());
  for (int i = 0; i < N - 1; ++i) EXPECT_TRUE(results[i]);
  EXPECT_EQ(barrier.n_waiting(), 0);
  EXPECT_FALSE(barrier.broken());
}

namespace {
Coroutine<> rewait(Barrier* barrier, Barrier* barrier_nowaiting, int* rewait_n) {
  co_await barrier->wait();
  if (*rewait_n > 0) {
    --*rewait_n;
    co_await barrier->wait();
  } else {
    co_await barrier_nowaiting->wait();  // wait for the end of the draining
    co_await barrier->wait();
  }
}
}  // namespace

// test_blocking_tasks_while_draining: arrivals wait while the barrier drains.
TEST(Barrier, BlockingTasksWhileDraining) {
  const int rewait_count = 2;
  Barrier barrier(N);
  Barrier barrier_nowaiting(N - rewait_count);
  int rewait_n = rewait_count;
  run_test(gather_tasks(N, rewait, &barrier, &barrier_nowaiting, &rewait_n));
  EXPECT_EQ(barrier.n_waiting(), 0);
}

namespace {
Coroutine<> wait_record(Barrier* barrier, int* results) {
  co_await barrier->wait();
  ++*results;
}
}  // namespace

// 246. test_filling_tasks_cancel_one: a cancelled waiter no longer counts.
TEST(Barrier, Cat246_FillingTasksCancelOne) {
  Barrier barrier(3);
  int results = 0;
  run_test([](Barrier& barrier, int& results) -> Coroutine<> {
    Task<> t1 = create_task(wait_record(&barrier, &results));
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 1);
    Task<> t2 = create_task(wait_record(&barrier, &results));
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 2);
    t1.cancel();
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 1);
    co_await expect_cancelled(t1);
    EXPECT_TRUE(t1.cancelled());
    Task<> t3 = create_task(wait_record(&barrier, &results));
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 2);
    Task<> t4 = create_task(wait_record(&barrier, &results));
    co_await gather(t2, t3, t4);
    EXPECT_EQ(results, 3);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_FALSE(barrier.broken());
  }(barrier, results));
}

// 247. test_reset_barrier
TEST(Barrier, Cat247_ResetBarrier) {
  Barrier barrier(1);
  run_test([](Barrier& barrier) -> Coroutine<> {
    create_task(barrier.reset());
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_FALSE(barrier.broken());
  }(barrier));
}

namespace {
Coroutine<> wait_expect_broken(Barrier* barrier, int* results) {
  try {
    co_await barrier->wait();
  } catch (const BrokenBarrierError& e) {
    EXPECT_STREQ(e.what(), "Abort or reset of barrier");
    ++*results;
  }
}
}  // namespace

// 248. test_reset_barrier_while_tasks_waiting
TEST(Barrier, Cat248_ResetBarrierWhileTasksWaiting) {
  Barrier barrier(N);
  int results = 0;
  run_test([](Barrier& barrier, int& results) -> Coroutine<> {
    std::vector<Task<>> tasks;
    for (int i = 0; i < N - 1; ++i) tasks.push_back(create_task(wait_expect_broken(&barrier, &results)));
    co_await asyncio::sleep(0);
    create_task(barrier.reset());
    co_await gather(std::move(tasks));
    EXPECT_EQ(results, N - 1);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_NE(Access::state(barrier), "resetting");
    EXPECT_FALSE(barrier.broken());
  }(barrier, results));
}

namespace {
Coroutine<> catch_waiting_or_reset(Barrier* barrier, int rest_of_tasks, int* results1) {
  bool passed = false;
  try {
    co_await barrier->wait();
    passed = true;
  } catch (const BrokenBarrierError&) {
    ++*results1;  // the tasks still waiting
  }
  // A drained task outside the barrier: reset once the rest are back in.
  if (passed && Access::count(*barrier) == rest_of_tasks) co_await barrier->reset();
}
}  // namespace

// test_reset_barrier_when_tasks_half_draining
TEST(Barrier, ResetBarrierWhenTasksHalfDraining) {
  Barrier barrier(N);
  int results1 = 0;
  const int rest_of_tasks = N / 2;
  run_test(gather_tasks(N, catch_waiting_or_reset, &barrier, rest_of_tasks, &results1));
  EXPECT_EQ(results1, rest_of_tasks);
  EXPECT_EQ(barrier.n_waiting(), 0);
  EXPECT_NE(Access::state(barrier), "resetting");
  EXPECT_FALSE(barrier.broken());
}

namespace {
struct HalfBlocking {
  Barrier barrier{N};
  int results1 = 0;
  int results2 = 0;
  int count = 0;
  int blocking_tasks = N / 2;
};

Coroutine<> reset_half_blocking(HalfBlocking* s) {
  bool broken = false;
  try {
    co_await s->barrier.wait();
  } catch (const BrokenBarrierError&) {
    broken = true;
  }
  if (broken) {
    ++s->results1;  // still waiting when reset: wait again to fill it
    co_await s->barrier.wait();
    co_return;
  }
  if (++s->count > s->blocking_tasks) {
    co_await s->barrier.reset();  // BrokenBarrierError for the waiting tasks
    co_await s->barrier.wait();
  } else {
    try {
      co_await s->barrier.wait();
    } catch (const BrokenBarrierError&) {
      ++s->results2;  // never: blocked tasks go on waiting
    }
  }
}
}  // namespace

// test_reset_barrier_when_tasks_half_draining_half_blocking
TEST(Barrier, ResetBarrierWhenTasksHalfDrainingHalfBlocking) {
  HalfBlocking s;
  run_test(gather_tasks(N, reset_half_blocking, &s));
  EXPECT_EQ(s.results1, s.blocking_tasks);
  EXPECT_EQ(s.results2, 0);
  EXPECT_EQ(s.barrier.n_waiting(), 0);
  EXPECT_NE(Access::state(s.barrier), "resetting");
  EXPECT_FALSE(s.barrier.broken());
}

namespace {
Coroutine<> broken_then_wait_again(Barrier* barrier, int* results1, int* results2) {
  try {
    co_await barrier->wait();
  } catch (const BrokenBarrierError&) {
    ++*results1;
  }
  // `finally:` of the CPython test
  co_await barrier->wait();
  ++*results2;
}
Coroutine<> pass_once(Barrier* barrier, int* results2) {
  co_await barrier->wait();
  ++*results2;
}
}  // namespace

// 249. test_reset_barrier_while_tasks_waiting_and_waiting_again
TEST(Barrier, Cat249_ResetBarrierWhileTasksWaitingAndWaitingAgain) {
  Barrier barrier(N);
  int results1 = 0, results2 = 0;
  run_test([](Barrier& barrier, int& results1, int& results2) -> Coroutine<> {
    std::vector<Task<>> tasks;
    for (int i = 0; i < N - 1; ++i) tasks.push_back(create_task(broken_then_wait_again(&barrier, &results1, &results2)));
    create_task(barrier.reset());
    co_await asyncio::sleep(0);
    Task<> last = create_task(pass_once(&barrier, &results2));
    co_await gather(std::move(tasks));
    co_await last;
    EXPECT_FALSE(barrier.broken());
    EXPECT_EQ(results1, N - 1);
    EXPECT_EQ(results2, N);
    EXPECT_EQ(barrier.n_waiting(), 0);
  }(barrier, results1, results2));
}

namespace {
struct WhileDraining {
  Barrier barrier{N};
  int results1 = 0, results2 = 0, results3 = 0, count = 0;
};

Coroutine<> reset_while_draining(WhileDraining* s) {
  co_await s->barrier.wait();
  if (++s->count == N) {
    co_await s->barrier.reset();  // the last task out of the barrier
    co_await s->barrier.wait();
  } else {
    try {
      co_await s->barrier.wait();
      ++s->results1;
    } catch (const std::exception&) {
      ++s->results2;
    }
  }
  co_await s->barrier.wait();
  ++s->results3;
}
}  // namespace

// test_reset_barrier_while_tasks_draining
TEST(Barrier, ResetBarrierWhileTasksDraining) {
  WhileDraining s;
  run_test(gather_tasks(N, reset_while_draining, &s));
  EXPECT_FALSE(s.barrier.broken());
  EXPECT_EQ(s.results1, N - 1);
  EXPECT_EQ(s.results2, 0);
  EXPECT_EQ(s.results3, N);
  EXPECT_EQ(s.barrier.n_waiting(), 0);
}

// 250. test_abort_barrier
TEST(Barrier, Cat250_AbortBarrier) {
  Barrier barrier(1);
  run_test([](Barrier& barrier) -> Coroutine<> {
    create_task(barrier.abort());
    co_await asyncio::sleep(0);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_TRUE(barrier.broken());
  }(barrier));
}

// Spec §0.2: wait() on a broken barrier, and what abort() does to waiters.
TEST(Barrier, BrokenMessages) {
  Barrier barrier(3);
  run_test([](Barrier& barrier) -> Coroutine<> {
    Task<std::ptrdiff_t> waiter = create_task(barrier.wait());
    co_await asyncio::sleep(0);
    co_await barrier.abort();
    std::vector<TaskRef> to_wait{waiter};
    co_await wait_all(std::move(to_wait));
    EXPECT_EXC(waiter.exception(), BrokenBarrierError, "Abort or reset of barrier");
    try {
      co_await barrier.wait();
      ADD_FAILURE() << "expected BrokenBarrierError";
    } catch (const BrokenBarrierError& e) {
      EXPECT_STREQ(e.what(), "Barrier aborted");
    }
    co_await barrier.reset();
    EXPECT_FALSE(barrier.broken());
    EXPECT_EQ(barrier.n_waiting(), 0);
  }(barrier));
}

namespace {
struct AbortHalf {
  Barrier barrier{N};
  int results1 = 0, results2 = 0, count = 0;
  int blocking_tasks = N / 2;
};

Coroutine<> abort_half_blocking(AbortHalf* s) {
  bool passed = false;
  try {
    co_await s->barrier.wait();
    passed = true;
  } catch (const BrokenBarrierError&) {
    ++s->results1;  // tasks waiting to drain
  }
  if (!passed) co_return;
  if (++s->count > s->blocking_tasks) {
    co_await s->barrier.abort();
  } else {
    try {
      co_await s->barrier.wait();
    } catch (const BrokenBarrierError&) {
      ++s->results2;  // blocked tasks, already drained
    }
  }
}
}  // namespace

// test_abort_barrier_when_tasks_half_draining_half_blocking
TEST(Barrier, AbortBarrierWhenTasksHalfDrainingHalfBlocking) {
  AbortHalf s;
  run_test(gather_tasks(N, abort_half_blocking, &s));
  EXPECT_TRUE(s.barrier.broken());
  EXPECT_EQ(s.results1, s.blocking_tasks);
  EXPECT_EQ(s.results2, N - s.blocking_tasks - 1);
  EXPECT_EQ(s.barrier.n_waiting(), 0);
  EXPECT_NE(Access::state(s.barrier), "resetting");
}

namespace {
struct AbortOnError {
  Barrier barrier1{N};
  Barrier barrier2{N};
  int results1 = 0, results2 = 0, results3 = 0;
};

// Passes barrier1 twice; the task with index N/2 raises instead and aborts.
Coroutine<> abort_on_error(AbortOnError* s) {
  bool failed = false;
  try {
    const std::ptrdiff_t i = co_await s->barrier1.wait();
    if (i == N / 2) throw RuntimeError("");
    co_await s->barrier1.wait();
    ++s->results1;
  } catch (const BrokenBarrierError&) {
    ++s->results2;
  } catch (const RuntimeError&) {
    failed = true;
  }
  if (failed) co_await s->barrier1.abort();
}

Coroutine<> abort_then_reset(AbortOnError* s) {
  co_await abort_on_error(s);
  // Synchronise and reset barrier1: first so that everyone has left it,
  // after so that nobody enters it before the reset.
  const std::ptrdiff_t i = co_await s->barrier2.wait();
  if (i == N / 2) co_await s->barrier1.reset();
  co_await s->barrier2.wait();
  co_await s->barrier1.wait();
  ++s->results3;
}
}  // namespace

// 251. test_abort_barrier_when_exception
TEST(Barrier, Cat251_AbortBarrierWhenException) {
  AbortOnError s;
  run_test(gather_tasks(N, abort_on_error, &s));
  EXPECT_TRUE(s.barrier1.broken());
  EXPECT_EQ(s.results1, 0);
  EXPECT_EQ(s.results2, N - 1);
  EXPECT_EQ(s.barrier1.n_waiting(), 0);
}

// 252. test_abort_barrier_when_exception_then_resetting
TEST(Barrier, Cat252_AbortBarrierWhenExceptionThenResetting) {
  AbortOnError s;
  run_test(gather_tasks(N, abort_then_reset, &s));
  EXPECT_FALSE(s.barrier1.broken());
  EXPECT_EQ(s.results1, 0);
  EXPECT_EQ(s.results2, N - 1);
  EXPECT_EQ(s.results3, N);
  EXPECT_EQ(s.barrier1.n_waiting(), 0);
}

// ============================================================ loop binding

namespace {
// Makes `lock` wait once (which binds it to the running loop).
Coroutine<> contend(Lock* lock) {
  co_await lock->acquire();
  Task<bool> waiter = create_task(lock->acquire());
  co_await asyncio::sleep(0);
  lock->release();
  co_await waiter;
  lock->release();
}
}  // namespace

// mixins._LoopBoundMixin: bound lazily, to the first loop that needs it.
TEST(LoopBinding, OtherLoopIsRefused) {
  Lock lock;
  // Uncontended use needs no loop, and binds nothing.
  run_test([](Lock& lock) -> Coroutine<> {
    co_await lock.acquire();
    lock.release();
  }(lock));
  run_test(contend(&lock));  // waits, so binds to this run's loop
  TestLoop other;
  Task<bool> t = other.loop.create_task([](Lock& lock) -> Coroutine<bool> {
    co_await lock.acquire();           // free: no loop needed
    bool again = co_await lock.acquire();  // must wait: refused
    co_return again;
  }(lock));
  EXPECT_THROW(other.loop.run_until_complete(t), RuntimeError);
  const std::string msg = asyncio_test::what(t.exception());
  EXPECT_EQ(msg.rfind("<asyncio.locks.Lock object at ", 0), 0u) << msg;
  EXPECT_NE(msg.find("> is bound to a different event loop"), std::string::npos) << msg;
  lock.release();
}

// Outside a running loop a wait cannot even start.
TEST(LoopBinding, NoRunningLoop) {
  Event ev;
  Coroutine<bool> wait = ev.wait();
  wait.handle().resume();  // runs to the first wait, which needs a loop
  ASSERT_TRUE(wait.handle().done());
  EXPECT_THROW_MSG(wait.handle().promise().rethrow(), RuntimeError, "no running event loop");
}

// ================================================================ lifetimes

// A task still waiting when its loop closes is destroyed with its frame: its
// waiter leaves the lock's queue (nothing dangles, nothing leaks).
TEST(Lifetime, WaitingTaskDestroyedWithItsLoop) {
  Lock lock;
  {
    TestLoop t;
    t.loop.run_until_complete(lock.acquire());
    Task<bool> waiter = t.loop.create_task(lock.acquire());
    t.run_briefly();
    EXPECT_EQ(Access::waiters(lock), 1u);
    t.loop.close();
    ASSERT_EQ(t.log.messages(), std::vector<std::string>{"Task was destroyed but it is pending!"});
  }
  EXPECT_EQ(Access::waiters(lock), 0u);
  lock.release();
  EXPECT_FALSE(lock.locked());
}

// A primitive destroyed while a task waits on it lets go of the waiter; the
// task stays pending until its loop closes.
TEST(Lifetime, PrimitiveDestroyedWhileWaitedOn) {
  TestLoop t;
  auto sem = std::make_unique<Semaphore>(0);
  Task<bool> waiter = t.loop.create_task(sem->acquire());
  t.run_briefly();
  EXPECT_EQ(Access::waiters(*sem), 1u);
  sem.reset();
  t.run_briefly();
  EXPECT_FALSE(waiter.done());
  t.loop.close();
  EXPECT_EQ(t.log.messages(), std::vector<std::string>{"Task was destroyed but it is pending!"});
}

// ============================================================ stress tests

namespace {
constexpr int kTasks = 10'000;

struct Hammer {
  int inside = 0;      ///< tasks inside the critical section now
  int max_inside = 0;  ///< the most ever seen at once
  int entered = 0;     ///< completed critical sections
  int cancelled = 0;   ///< tasks that ended cancelled
};

template <class Primitive>
Coroutine<> hammer_one(Primitive* p, Hammer* h, int i) {
  try {
    auto held = co_await p->guard();
    h->max_inside = std::max(h->max_inside, ++h->inside);
    struct Leave {
      int& inside;
      ~Leave() { --inside; }
    } leave{h->inside};
    // Hold it across a suspension, a timer for some.
    if (i % 3 == 0)
      co_await asyncio::sleep(0.001 * (i % 7));
    else
      co_await asyncio::sleep(0);
    ++h->entered;
  } catch (const CancelledError&) {
    ++h->cancelled;
    throw;
  }
}

// Cancels random tasks while they wait or hold the primitive.
Coroutine<> chaos(std::vector<Task<>>* tasks, unsigned seed) {
  std::mt19937 rng(seed);
  for (int round = 0; round < 2'000; ++round) {
    Task<>& victim = (*tasks)[rng() % tasks->size()];
    victim.cancel();
    if (rng() % 4 == 0)
      co_await asyncio::sleep(0.0005);
    else
      co_await asyncio::sleep(0);
  }
}

// ≙ a watchdog: gives up on the tasks after `deadline` (virtual) seconds.
Coroutine<bool> all_done_within(std::vector<Task<>>* tasks, double deadline) {
  const double end = get_running_loop().time() + deadline;
  for (Task<>& t : *tasks)
    while (!t.done()) {
      if (get_running_loop().time() > end) co_return false;
      co_await asyncio::sleep(0.01);
    }
  co_return true;
}

template <class Primitive>
Coroutine<> hammer(Primitive* p, Hammer* h, unsigned seed) {
  std::vector<Task<>> tasks;
  tasks.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) tasks.push_back(create_task(hammer_one(p, h, i)));
  Task<> killer = create_task(chaos(&tasks, seed));
  // No waiter may be stranded: every task finishes, entered or cancelled.
  {
    const bool ok = co_await all_done_within(&tasks, 1000.0);
    EXPECT_TRUE(ok);
  }
  co_await killer;
  int cancelled = 0;
  for (Task<>& t : tasks) cancelled += t.cancelled();
  EXPECT_EQ(cancelled, h->cancelled);
  EXPECT_EQ(h->entered + h->cancelled, kTasks);
  EXPECT_GT(h->cancelled, 100);
  EXPECT_GT(h->entered, 1000);
  EXPECT_EQ(h->inside, 0);
}
}  // namespace

// 10,000 tasks hammer a Lock while random ones are cancelled: mutual
// exclusion holds and no waiter is stranded.
TEST(LockStress, TenThousandTasksWithCancellations) {
  Lock lock;
  Hammer h;
  run_test(hammer(&lock, &h, 1234));
  EXPECT_EQ(h.max_inside, 1);
  EXPECT_FALSE(lock.locked());
  EXPECT_EQ(Access::waiters(lock), 0u);
}

// The same for a Semaphore(3): never more than 3 inside, all units back.
TEST(SemaphoreStress, TenThousandTasksWithCancellations) {
  Semaphore sem(3);
  Hammer h;
  run_test(hammer(&sem, &h, 4321));
  EXPECT_EQ(h.max_inside, 3);
  EXPECT_FALSE(sem.locked());
  EXPECT_EQ(Access::value(sem), 3);
  EXPECT_EQ(Access::waiters(sem), 0u);
}
