// Tests for include/asyncio/timeouts.hpp (≙ Lib/test/test_asyncio/test_timeouts.py,
// CPython v3.13.0; catalogue §14 C, entries 86-108), plus the races of spec
// §3.3 and a stress test. Virtual time unless a test needs a busy loop.
#include <asyncio/timeouts.hpp>  // first: proves the header is self-contained

#include "asyncio_test.hpp"

#include <chrono>
#include <exception>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::raises;
using asyncio_test::run_test;
using asyncio_test::TestLoop;
using asyncio_test::what;

namespace {

// The exception a TimeoutError carries as its cause (std::nested_exception).
std::exception_ptr cause_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::nested_exception& n) {
    return n.nested_ptr();
  } catch (...) {
    return nullptr;
  }
}

double now() { return get_running_loop().time(); }

}  // namespace

// ---------------------------------------------------------------------------
// 86. test_timeout_basic

namespace {
Coroutine<> timeout_basic() {
  auto e = co_await raises(asyncio::timeout(0.01, []() -> Coroutine<> { co_await asyncio::sleep(10); }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_NEAR(now(), 0.01, 1e-9);

  // The same with a Timeout that can be read after the block.
  Timeout cm(now() + 0.01);
  e = co_await raises(async_with(cm, []() -> Coroutine<> { co_await asyncio::sleep(10); }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(cm.expired());
}
}  // namespace

TEST(Timeouts, Cat086_TimeoutBasic) { run_test(timeout_basic()); }

// ---------------------------------------------------------------------------
// 87. test_timeout_at_basic

namespace {
Coroutine<> timeout_at_basic() {
  const double deadline = now() + 0.01;
  std::optional<double> seen;
  bool expired_inside = true;
  auto e = co_await raises(asyncio::timeout_at(deadline, [&](Timeout& cm) -> Coroutine<> {
    seen = cm.when();
    expired_inside = cm.expired();
    co_await asyncio::sleep(10);
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_EQ(seen, deadline);
  EXPECT_FALSE(expired_inside);

  Timeout cm(now() + 0.01);
  const double deadline2 = *cm.when();
  e = co_await raises(async_with(cm, []() -> Coroutine<> { co_await asyncio::sleep(10); }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(cm.expired());
  EXPECT_EQ(cm.when(), deadline2);
}
}  // namespace

TEST(Timeouts, Cat087_TimeoutAtBasic) { run_test(timeout_at_basic()); }

// ---------------------------------------------------------------------------
// 88. test_nested_timeouts: only the topmost scope raises TimeoutError.

namespace {
Coroutine<> nested_timeouts() {
  const double deadline = now() + 0.01;
  Timeout cm1(deadline), cm2(deadline);
  bool cancelled = false;
  auto e = co_await raises(async_with(cm1, [&]() -> Coroutine<> {
    try {
      co_await async_with(cm2, []() -> Coroutine<> { co_await asyncio::sleep(10); });
    } catch (const CancelledError&) {
      cancelled = true;
      throw;
    }
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(cm1.expired());
  EXPECT_TRUE(cm2.expired());
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(Timeouts, Cat088_NestedTimeouts) { run_test(nested_timeouts()); }

// ---------------------------------------------------------------------------
// 89. test_waiter_cancelled

namespace {
Coroutine<> waiter_cancelled() {
  bool cancelled = false;
  auto e = co_await raises(asyncio::timeout(0.01, [&]() -> Coroutine<> {
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError&) {
      cancelled = true;
      throw;
    }
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(cancelled);
}
}  // namespace

TEST(Timeouts, Cat089_WaiterCancelled) { run_test(waiter_cancelled()); }

// ---------------------------------------------------------------------------
// 90. test_timeout_not_called

namespace {
Coroutine<> timeout_not_called() {
  Timeout cm(now() + 10);
  co_await async_with(cm, []() -> Coroutine<> { co_await asyncio::sleep(0.01); });
  const double t1 = now();
  EXPECT_FALSE(cm.expired());
  EXPECT_GT(*cm.when(), t1);
  EXPECT_EQ(cm.repr(), "<Timeout [finished]>");

  // timeout(delay): the value goes through.
  std::optional<double> when;
  int v = co_await asyncio::timeout(10, [&](Timeout& c) -> Coroutine<int> {
    co_await asyncio::sleep(0.01);
    when = c.when();
    co_return 42;
  });
  EXPECT_EQ(v, 42);
  EXPECT_GT(*when, now());
}
}  // namespace

TEST(Timeouts, Cat090_TimeoutNotCalled) { run_test(timeout_not_called()); }

// ---------------------------------------------------------------------------
// 91. test_timeout_disabled (+ test_timeout_at_disabled)

namespace {
Coroutine<> timeout_disabled() {
  Timeout cm(std::nullopt);
  co_await async_with(cm, []() -> Coroutine<> { co_await asyncio::sleep(0.01); });
  EXPECT_FALSE(cm.expired());
  EXPECT_EQ(cm.when(), std::nullopt);

  std::optional<double> when = 0.0;
  bool expired = true;
  co_await asyncio::timeout(std::nullopt, [&](Timeout& c) -> Coroutine<> {
    co_await asyncio::sleep(0.01);
    when = c.when();
    expired = c.expired();
  });
  EXPECT_EQ(when, std::nullopt);
  EXPECT_FALSE(expired);

  when = 0.0;
  co_await asyncio::timeout_at(std::nullopt, [&](Timeout& c) -> Coroutine<> {
    co_await asyncio::sleep(0.01);
    when = c.when();
  });
  EXPECT_EQ(when, std::nullopt);
}
}  // namespace

TEST(Timeouts, Cat091_TimeoutDisabled) { run_test(timeout_disabled()); }

// ---------------------------------------------------------------------------
// 92. test_timeout_zero

namespace {
Coroutine<> timeout_zero() {
  const double t0 = now();
  std::optional<double> when;
  auto e = co_await raises(asyncio::timeout(0, [&](Timeout& cm) -> Coroutine<> {
    when = cm.when();
    co_await asyncio::sleep(10);
  }));
  const double t1 = now();
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_LE(t0, *when);
  EXPECT_LE(*when, t1);
}
}  // namespace

TEST(Timeouts, Cat092_TimeoutZero) { run_test(timeout_zero()); }

// ---------------------------------------------------------------------------
// 93. test_timeout_zero_sleep_zero: the expiry, queued with call_soon, runs
// before the task resumes from sleep(0). [V] With no await in the block, no
// error and not expired.

namespace {
Coroutine<> timeout_zero_sleep_zero() {
  Timeout cm(now());
  auto e = co_await raises(async_with(cm, []() -> Coroutine<> { co_await asyncio::sleep(0); }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(cm.expired());

  e = co_await raises(asyncio::timeout(0, []() -> Coroutine<> { co_await asyncio::sleep(0); }));
  EXPECT_TRUE(holds<TimeoutError>(e));

  Timeout quiet(now());
  int v = co_await async_with(quiet, []() -> Coroutine<int> { co_return 7; });
  EXPECT_EQ(v, 7);
  EXPECT_FALSE(quiet.expired());
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(Timeouts, Cat093_TimeoutZeroSleepZero) { run_test(timeout_zero_sleep_zero()); }

// ---------------------------------------------------------------------------
// 94. test_timeout_in_the_past_sleep_zero

namespace {
Coroutine<> timeout_in_the_past() {
  const double t0 = now();
  std::optional<double> when;
  auto e = co_await raises(asyncio::timeout(-11, [&](Timeout& cm) -> Coroutine<> {
    when = cm.when();
    co_await asyncio::sleep(0);
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_LE(*when, t0);
}
}  // namespace

TEST(Timeouts, Cat094_TimeoutInThePastSleepZero) { run_test(timeout_in_the_past()); }

// ---------------------------------------------------------------------------
// 95. test_foreign_exception_passed (KeyError → std::out_of_range)

namespace {
Coroutine<> foreign_exception_passed() {
  Timeout cm(now() + 0.01);
  auto e = co_await raises(async_with(cm, []() -> Coroutine<> {
    throw std::out_of_range("KeyError");
    co_return;
  }));
  EXPECT_TRUE(holds<std::out_of_range>(e));
  EXPECT_FALSE(cm.expired());
}
}  // namespace

TEST(Timeouts, Cat095_ForeignExceptionPassed) { run_test(foreign_exception_passed()); }

// ---------------------------------------------------------------------------
// test_foreign_cancel_doesnt_timeout_if_not_expired

namespace {
Coroutine<> foreign_cancel_not_expired() {
  Timeout cm(now() + 10);
  auto e = co_await raises(async_with(cm, []() -> Coroutine<> {
    current_task().cancel();
    co_await asyncio::sleep(10);
  }));
  EXPECT_TRUE(holds<CancelledError>(e));
  EXPECT_FALSE(cm.expired());
  current_task().uncancel();
}
}  // namespace

TEST(Timeouts, ForeignCancelDoesntTimeoutIfNotExpired) { run_test(foreign_cancel_not_expired()); }

// ---------------------------------------------------------------------------
// 97. test_outer_task_is_not_cancelled

namespace {
Coroutine<> outer_not_cancelled() {
  auto e = co_await raises(asyncio::timeout(0.001, []() -> Coroutine<> { co_await asyncio::sleep(10); }));
  EXPECT_TRUE(holds<TimeoutError>(e));
}
Coroutine<> outer_task_main() {
  Task<> task = create_task(outer_not_cancelled());
  co_await task;
  EXPECT_FALSE(task.cancelled());
  EXPECT_TRUE(task.done());
  EXPECT_EQ(task.cancelling(), 0);
}
}  // namespace

TEST(Timeouts, Cat097_OuterTaskIsNotCancelled) { run_test(outer_task_main()); }

// ---------------------------------------------------------------------------
// 98. test_nested_timeouts_concurrent (real time: the loop is blocked, as the
// test's time.sleep does). Only the outer deadline passes: the inner scope,
// not expired, lets CancelledError through and the outer converts it.

namespace {
Coroutine<> nested_concurrent(bool* inner_cancelled) {
  auto e = co_await raises(asyncio::timeout(0.002, [=]() -> Coroutine<> {
    try {
      co_await asyncio::timeout(0.1, []() -> Coroutine<> {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // crunch numbers
        co_await asyncio::sleep(1);
      });
    } catch (const CancelledError&) {
      *inner_cancelled = true;
      throw;
    }
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
}
}  // namespace

TEST(Timeouts, Cat098_NestedTimeoutsConcurrent) {
  bool inner_cancelled = false;
  run_test(nested_concurrent(&inner_cancelled), /*virtual_time=*/false);
  EXPECT_TRUE(inner_cancelled);
}

// ---------------------------------------------------------------------------
// 99. test_nested_timeouts_loop_busy (real time). [V] Both deadlines pass
// while the loop is blocked, so both expire in the same pass: the inner
// scope sees the outer's request too and lets CancelledError through; only
// the outer raises TimeoutError, and the sleep(10) after the inner block is
// never reached.

namespace {
Coroutine<> nested_loop_busy(bool* inner_cancelled, bool* reached) {
  auto e = co_await raises(asyncio::timeout(0.1, [=]() -> Coroutine<> {
    try {
      co_await asyncio::timeout(0.01, []() -> Coroutine<> {
        std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the loop is busy
        co_await asyncio::sleep(1);
      });
    } catch (const CancelledError&) {
      *inner_cancelled = true;
      throw;
    }
    *reached = true;
    co_await asyncio::sleep(10);
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
}
}  // namespace

TEST(Timeouts, Cat099_NestedTimeoutsLoopBusy) {
  bool inner_cancelled = false, reached = false;
  run_test(nested_loop_busy(&inner_cancelled, &reached), /*virtual_time=*/false);
  EXPECT_TRUE(inner_cancelled);
  EXPECT_FALSE(reached);
}

// ---------------------------------------------------------------------------
// test_reschedule

namespace {
Coroutine<> reschedule_body(double deadline1, Future<Timeout*> fut) {
  co_await asyncio::timeout_at(deadline1, [&](Timeout& cm) -> Coroutine<> {
    fut.set_result(&cm);
    co_await asyncio::sleep(50);
  });
}
Coroutine<> reschedule_main() {
  Future<Timeout*> fut = get_running_loop().create_future<Timeout*>();
  const double deadline1 = now() + 10;
  const double deadline2 = deadline1 + 20;
  Task<> task = create_task(reschedule_body(deadline1, fut));
  Timeout* cm = co_await fut;
  EXPECT_EQ(cm->when(), deadline1);
  EXPECT_EQ(cm->repr(), "<Timeout [active] when=10.0>");
  cm->reschedule(deadline2);
  EXPECT_EQ(cm->when(), deadline2);
  cm->reschedule(std::nullopt);
  EXPECT_EQ(cm->when(), std::nullopt);
  EXPECT_EQ(cm->repr(), "<Timeout [active] when=None>");
  EXPECT_FALSE(cm->expired());
  task.cancel();
  auto e = co_await raises(std::move(task));
  EXPECT_TRUE(holds<CancelledError>(e));
  EXPECT_DOUBLE_EQ(now(), 0.0);  // neither deadline was waited for
}
Coroutine<> reschedule_earlier() {
  // Moving the deadline earlier, and into the past (fires on the next pass).
  Timeout cm(now() + 100);
  auto e = co_await raises(async_with(cm, [&]() -> Coroutine<> {
    cm.reschedule(now() + 1);
    co_await asyncio::sleep(50);
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_NEAR(now(), 1.0, 1e-9);
  Timeout past(now() + 100);
  e = co_await raises(async_with(past, [&]() -> Coroutine<> {
    past.reschedule(now() - 5);
    co_await asyncio::sleep(0);
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_NEAR(now(), 1.0, 1e-9);
}
}  // namespace

TEST(Timeouts, Reschedule) {
  run_test(reschedule_main());
  run_test(reschedule_earlier());
}

// ---------------------------------------------------------------------------
// test_repr_active, test_repr_expired, test_repr_finished, test_repr_disabled

namespace {
Coroutine<> reprs() {
  std::string active;
  co_await asyncio::timeout(10, [&](Timeout& cm) -> Coroutine<> {
    active = cm.repr();
    co_return;
  });
  EXPECT_EQ(active, "<Timeout [active] when=10.0>");
  Timeout expired(now() + 0.01);
  co_await raises(async_with(expired, []() -> Coroutine<> { co_await asyncio::sleep(10); }));
  EXPECT_EQ(expired.repr(), "<Timeout [expired]>");
  Timeout finished(now() + 10);
  co_await async_with(finished, []() -> Coroutine<> { co_await asyncio::sleep(0); });
  EXPECT_EQ(finished.repr(), "<Timeout [finished]>");
  std::string disabled;
  co_await asyncio::timeout(std::nullopt, [&](Timeout& cm) -> Coroutine<> {
    disabled = cm.repr();
    co_return;
  });
  EXPECT_EQ(disabled, "<Timeout [active] when=None>");
  Timeout created(1.23456);
  EXPECT_EQ(created.repr(), "<Timeout [created]>");
}
}  // namespace

TEST(Timeouts, Repr) { run_test(reprs()); }

// ---------------------------------------------------------------------------
// 101. test_timeout_exception_context: the TimeoutError is caused by the
// CancelledError (std::nested_exception stands for __cause__). The
// CancelledError's own __context__ (the ZeroDivisionError) has no C++
// counterpart.

namespace {
Coroutine<> timeout_exception_context() {
  auto e = co_await raises(asyncio::timeout(0.01, []() -> Coroutine<> {
    std::exception_ptr pending;
    try {
      throw std::domain_error("ZeroDivisionError");
    } catch (...) {
      pending = std::current_exception();
    }
    co_await asyncio::sleep(1);  // the `finally:` block
    std::rethrow_exception(pending);
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(holds<CancelledError>(cause_of(e)));
}
// test_timeout_exception_cause
Coroutine<> timeout_exception_cause() {
  auto e = co_await raises(asyncio::timeout(0, []() -> Coroutine<> { co_await asyncio::sleep(1); }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(holds<CancelledError>(cause_of(e)));
}
}  // namespace

TEST(Timeouts, Cat101_TimeoutExceptionContext) {
  run_test(timeout_exception_context());
  run_test(timeout_exception_cause());
}

// ---------------------------------------------------------------------------
// 102. test_foreign_exception_on_timeout (+ _2): the body's cleanup raises
// instead of the CancelledError; that exception propagates. (3.13 splices a
// TimeoutError into its __context__, which C++ exceptions do not have.)

namespace {
Coroutine<> crash(bool nested) {
  try {
    co_await asyncio::sleep(1);
  } catch (...) {
    if (nested) throw std::out_of_range("KeyError");
    throw std::domain_error("ZeroDivisionError");
  }
}
Coroutine<> foreign_exception_on_timeout() {
  auto e = co_await raises(asyncio::timeout(0.01, []() -> Coroutine<> { co_await crash(false); }));
  EXPECT_TRUE(holds<std::domain_error>(e));
  EXPECT_EQ(current_task().cancelling(), 0);
  e = co_await raises(asyncio::timeout(0.01, []() -> Coroutine<> {
    std::exception_ptr first;
    try {
      co_await crash(true);
    } catch (...) {
      first = std::current_exception();
    }
    if (first) throw std::domain_error("ZeroDivisionError");
  }));
  EXPECT_TRUE(holds<std::domain_error>(e));
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(Timeouts, Cat102_ForeignExceptionOnTimeout) { run_test(foreign_exception_on_timeout()); }

// ---------------------------------------------------------------------------
// 103. test_nested_timeout_in_finally

namespace {
Coroutine<> nested_timeout_in_finally() {
  bool inner_timed_out = false;
  auto e = co_await raises(asyncio::timeout(0.01, [&]() -> Coroutine<> {
    std::exception_ptr pending;
    try {
      co_await asyncio::sleep(1);
    } catch (...) {
      pending = std::current_exception();
    }
    // finally:
    auto inner = co_await raises(asyncio::timeout(0.01, []() -> Coroutine<> { co_await asyncio::sleep(10); }));
    inner_timed_out = holds<TimeoutError>(inner);
    if (pending) std::rethrow_exception(pending);
  }));
  EXPECT_TRUE(inner_timed_out);
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_NEAR(now(), 0.02, 1e-9);
}
}  // namespace

TEST(Timeouts, Cat103_NestedTimeoutInFinally) { run_test(nested_timeout_in_finally()); }

// ---------------------------------------------------------------------------
// 104. test_timeout_after_cancellation: the baseline rule.

namespace {
Coroutine<> timeout_after_cancellation() {
  try {
    current_task().cancel();
    co_await asyncio::sleep(1);  // work which will be cancelled
  } catch (const CancelledError&) {
  }
  EXPECT_EQ(current_task().cancelling(), 1);
  // finally:
  auto e = co_await raises(asyncio::timeout(0.0, []() -> Coroutine<> { co_await asyncio::sleep(1); }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_EQ(current_task().cancelling(), 1);
  current_task().uncancel();
}
// test_cancel_in_timeout_after_cancellation
Coroutine<> cancel_in_timeout_after_cancellation() {
  try {
    current_task().cancel();
    co_await asyncio::sleep(1);
  } catch (const CancelledError&) {
  }
  auto e = co_await raises(asyncio::timeout(1.0, []() -> Coroutine<> {
    current_task().cancel();
    co_await asyncio::sleep(2);
  }));
  EXPECT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(current_task().cancelling(), 2);
  current_task().uncancel();
  current_task().uncancel();
}
}  // namespace

TEST(Timeouts, Cat104_TimeoutAfterCancellation) {
  run_test(timeout_after_cancellation());
  run_test(cancel_in_timeout_after_cancellation());
}

// ---------------------------------------------------------------------------
// 106. test_timeout_already_entered (+ test_timeout_double_enter)

namespace {
Coroutine<> already_entered() {
  Timeout cm(now() + 0.01);
  std::exception_ptr inner;
  co_await async_with(cm, [&]() -> Coroutine<> {
    inner = co_await raises(async_with(cm, []() -> Coroutine<> { co_return; }));
  });
  EXPECT_EXC(inner, RuntimeError, "Timeout has already been entered");
  EXPECT_FALSE(cm.expired());

  Timeout twice(now() + 0.01);
  co_await async_with(twice, []() -> Coroutine<> { co_return; });
  auto e = co_await raises(async_with(twice, []() -> Coroutine<> { co_return; }));
  EXPECT_EXC(e, RuntimeError, "Timeout has already been entered");
}
}  // namespace

TEST(Timeouts, Cat106_TimeoutAlreadyEntered) { run_test(already_entered()); }

// ---------------------------------------------------------------------------
// test_timeout_finished, test_timeout_not_entered, and the other states
// reschedule() refuses.

namespace {
Coroutine<> reschedule_states() {
  Timeout cm(now() + 0.01);
  co_await async_with(cm, []() -> Coroutine<> { co_return; });
  EXPECT_THROW_MSG(cm.reschedule(0.02), RuntimeError, "Cannot change state of finished Timeout");

  Timeout expired(now() + 0.01);
  std::exception_ptr while_expiring;
  co_await raises(async_with(expired, [&]() -> Coroutine<> {
    try {
      co_await asyncio::sleep(1);
    } catch (const CancelledError&) {
      while_expiring = asyncio_test::capture([&] { expired.reschedule(5); });
      throw;
    }
  }));
  EXPECT_EXC(while_expiring, RuntimeError, "Cannot change state of expiring Timeout");
  EXPECT_THROW_MSG(expired.reschedule(0.02), RuntimeError, "Cannot change state of expired Timeout");

  std::exception_ptr nan;
  co_await asyncio::timeout(1, [&](Timeout& c) -> Coroutine<> {
    nan = asyncio_test::capture([&] { c.reschedule(std::nan("")); });
    co_return;
  });
  EXPECT_TRUE(holds<std::invalid_argument>(nan));
}
}  // namespace

TEST(Timeouts, TimeoutFinished) { run_test(reschedule_states()); }

TEST(Timeouts, TimeoutNotEntered) {
  Timeout cm(0.01);
  EXPECT_THROW_MSG(cm.reschedule(0.02), RuntimeError, "Timeout has not been entered");
  EXPECT_FALSE(cm.expired());
}

// ---------------------------------------------------------------------------
// 108. test_timeout_without_task: only the second half is expressible (a
// C++ coroutine always runs inside a task, so `__aenter__` cannot be driven
// outside one); before entering, reschedule() refuses.

TEST(Timeouts, Cat108_TimeoutWithoutTask) {
  TestLoop t;
  Timeout cm(t.loop.time() + 0.01);
  EXPECT_THROW_MSG(cm.reschedule(0.02), RuntimeError, "Timeout has not been entered");
}

// ---------------------------------------------------------------------------
// Spec §3.3 races.

namespace {
// The awaited future completed, but the deadline fires before the task
// resumes: the value is dropped and TimeoutError raised. [V]
Coroutine<> race_completion_then_timeout() {
  EventLoop& loop = get_running_loop();
  Future<int> fut = loop.create_future<int>();
  Timeout cm(now() + 1);
  // Both at t=1: the result is set first (its timer was created first).
  loop.call_at(1, [fut] { fut.set_result(5); });
  auto e = co_await raises(async_with(cm, [&]() -> Coroutine<> {
    int v = co_await fut;
    ADD_FAILURE() << "got " << v;
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(fut.done());
  EXPECT_FALSE(fut.cancelled());
}
// The deadline fires first: the awaited future is cancelled at once, and a
// later set_result raises InvalidStateError. [V]
Coroutine<> race_timeout_then_completion() {
  EventLoop& loop = get_running_loop();
  Future<int> fut = loop.create_future<int>();
  std::exception_ptr late;
  Timeout cm(now() + 1);
  auto e = co_await raises(async_with(cm, [&]() -> Coroutine<> {
    // Scheduled after the deadline's timer, for the same time: runs after it.
    loop.call_at(1, [fut, &late] { late = asyncio_test::capture([&] { fut.set_result(5); }); });
    co_await fut;
  }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(fut.cancelled());
  EXPECT_EXC(late, InvalidStateError, "invalid state");
}
// A deadline and an external cancel() in the same pass: CancelledError
// wins, the task ends cancelled, and expired() is true. [V]
Coroutine<> race_body(Timeout* cm) {
  co_await async_with(*cm, []() -> Coroutine<> { co_await asyncio::sleep(10); });
}
Coroutine<> race_timeout_and_cancel() {
  EventLoop& loop = get_running_loop();
  Timeout cm(now() + 1);
  Task<> task = create_task(race_body(&cm));
  loop.call_at(1, [task]() mutable { task.cancel(); });
  auto e = co_await raises(task);
  EXPECT_TRUE(holds<CancelledError>(e));
  EXPECT_TRUE(task.cancelled());
  EXPECT_TRUE(cm.expired());
}
}  // namespace

TEST(Timeouts, RaceCompletionThenTimeout) { run_test(race_completion_then_timeout()); }
TEST(Timeouts, RaceTimeoutThenCompletion) { run_test(race_timeout_then_completion()); }
TEST(Timeouts, RaceTimeoutAndExternalCancel) { run_test(race_timeout_and_cancel()); }

// ---------------------------------------------------------------------------
// A body that swallows the cancellation: no error, expired() is true, and
// the task's cancel count is restored. Bodies of every shape: a coroutine
// lambda with or without the Timeout, a plain callable returning a
// Coroutine, a duration.

namespace {
Coroutine<int> give(int v) { co_return v; }
Coroutine<> swallowed() {
  Timeout cm(now() + 0.5);
  int v = co_await async_with(cm, []() -> Coroutine<int> {
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError&) {
    }
    co_return 3;
  });
  EXPECT_EQ(v, 3);
  EXPECT_TRUE(cm.expired());
  EXPECT_EQ(current_task().cancelling(), 0);

  int x = 4;
  EXPECT_EQ(co_await asyncio::timeout(1, [&] { return give(x); }), 4);
  EXPECT_EQ(co_await asyncio::timeout(std::chrono::milliseconds(100), [&](Timeout&) { return give(x + 1); }), 5);
  auto e = co_await raises(asyncio::timeout(std::chrono::milliseconds(100),
                                            []() -> Coroutine<> { co_await asyncio::sleep(1); }));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_NEAR(now(), 0.6, 1e-9);
}
}  // namespace

TEST(Timeouts, BodySwallowsCancellation) { run_test(swallowed()); }

// A scope awaited twice: its Timeout was entered already. As a Coroutine
// (for create_task), the same block.
namespace {
Coroutine<> scope_as_coroutine() {
  auto scope = asyncio::timeout(0.5, []() -> Coroutine<int> {
    co_await asyncio::sleep(1);
    co_return 1;
  });
  Task<int> t = create_task(std::move(scope).coroutine());
  auto e = co_await raises(t);
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_NEAR(now(), 0.5, 1e-9);
  EXPECT_EQ(t.cancelling(), 0);
  EXPECT_FALSE(t.cancelled());

  auto twice = asyncio::timeout(1, [] { return give(2); });
  EXPECT_EQ(co_await twice, 2);
  e = nullptr;
  try {
    co_await twice;
  } catch (...) {
    e = std::current_exception();
  }
  EXPECT_EXC(e, RuntimeError, "Timeout has already been entered");
}
}  // namespace

TEST(Timeouts, ScopeAsCoroutineAndAwaitedTwice) { run_test(scope_as_coroutine()); }

// A timeout whose task is left pending when its loop closes: no deadline
// fires on the dropped task, nothing leaks (ASan).
namespace {
Coroutine<> hang_under_timeout(Future<> never) {
  co_await asyncio::timeout(5, [&]() -> Coroutine<> { co_await never; });
}
}  // namespace

TEST(Timeouts, PendingAtLoopClose) {
  TestLoop t;
  Future<> never = t.loop.create_future();
  Task<> task = t.loop.create_task(hang_under_timeout(never));
  t.run_briefly();
  EXPECT_FALSE(task.done());
  t.loop.close();
  EXPECT_EQ(t.log.messages(), std::vector<std::string>{"Task was destroyed but it is pending!"});
}

// ---------------------------------------------------------------------------
// Stress: 10,000 tasks, each under its own timeout() with a random expiry,
// racing a random amount of work. Virtual time makes the outcome exact.

namespace {
Coroutine<int> timed_worker(double expiry, double work, int* timeouts) {
  try {
    co_return co_await asyncio::timeout(expiry, [=]() -> Coroutine<int> {
      co_await asyncio::sleep(work);
      co_return 1;
    });
  } catch (const TimeoutError&) {
    ++*timeouts;
  }
  EXPECT_EQ(current_task().cancelling(), 0);
  co_return 0;
}
Coroutine<> timeout_stress(int n, int* finished, int* timeouts, int* expected_timeouts) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> ms(0, 2000);
  std::vector<Coroutine<int>> workers;
  workers.reserve(n);
  for (int i = 0; i < n; ++i) {
    // Whole milliseconds for the expiry, half ones for the work: never equal.
    const double expiry = ms(rng) / 1000.0;
    const double work = (ms(rng) + 0.5) / 1000.0;
    if (expiry < work) ++*expected_timeouts;
    workers.push_back(timed_worker(expiry, work, timeouts));
  }
  std::vector<int> results = co_await gather(std::move(workers));
  for (int r : results) *finished += r;
  EXPECT_EQ(all_tasks().size(), 1u);  // only this one
}
}  // namespace

TEST(Timeouts, Stress10000TasksRandomExpiry) {
  int finished = 0, timeouts = 0, expected_timeouts = 0;
  const int n = 10000;
  run_test(timeout_stress(n, &finished, &timeouts, &expected_timeouts));
  EXPECT_EQ(timeouts, expected_timeouts);
  EXPECT_EQ(finished + timeouts, n);
  EXPECT_GT(timeouts, n / 4);
  EXPECT_GT(finished, n / 4);
}

// ---------------------------------------------------------------------------
// One timer heap (design-notes.md): a Timeout's deadline is a node of the
// loop's heap; once due it waits among the pass's expiries.

namespace {
Coroutine<> deadline_dropped_after_due() {
  EventLoop& loop = get_running_loop();
  const double deadline = now() + 1;
  auto* cm = new Timeout(deadline);
  // Due at the same time and queued first: it runs before the expiries of
  // that pass, and frees the Timeout whose node is already among them.
  loop.call_at(deadline, [&cm] { delete std::exchange(cm, nullptr); });
  detail::TimeoutAccess::enter(*cm, std::nullopt, false);
  // Sleeps past the deadline: the freed Timeout cancelled nothing.
  auto e = co_await raises(asyncio::sleep(2));
  EXPECT_FALSE(e) << what(e);
  EXPECT_NEAR(now(), deadline + 1, 1e-9);
  EXPECT_EQ(cm, nullptr);
}

Coroutine<> timeouts_leave_the_heap() {
  detail::LoopCore& core = get_running_loop().core();
  const std::size_t before = core.timers.size();
  for (int i = 0; i < 100000; ++i) {
    co_await asyncio::timeout(100, []() -> Coroutine<> { co_return; });
  }
  EXPECT_EQ(core.timers.size(), before);
  // An infinite deadline never enters the heap (a virtual-time loop would
  // jump to it).
  co_await asyncio::timeout(std::numeric_limits<double>::infinity(), [&core, before]() -> Coroutine<> {
    EXPECT_EQ(core.timers.size(), before);
    co_return;
  });
}
}  // namespace

TEST(Timeouts, DeadlineDroppedAfterItCameDueFiresNothing) { run_test(deadline_dropped_after_due()); }

TEST(Timeouts, TimeoutsLeaveTheHeapAsTheyExit) { run_test(timeouts_leave_the_heap()); }

TEST(Timeouts, QueuedDeadlineOutlivesItsClosedLoop) {
  // A task stopped inside a timeout block when its loop closes: its frame,
  // and the Timeout with its queued deadline, go after the loop's heap was
  // cleared; nothing dangles (ASan) and the core is released.
  std::optional<Task<>> task;
  {
    TestLoop t;
    task.emplace(t.loop.create_task([]() -> Coroutine<> {
      co_await asyncio::timeout(50, []() -> Coroutine<> { co_await asyncio::sleep(100); });
    }()));
    t.run_briefly();
    EXPECT_EQ(t.loop.core().timers.size(), 2u);  // the sleep and the deadline
    t.loop.close();
    EXPECT_EQ(t.loop.core().timers.size(), 0u);
  }
  task.reset();
}
