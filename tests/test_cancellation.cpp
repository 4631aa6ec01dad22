// Acceptance tests for cancellation (spec §1.3, §4; catalogue §14 D, area
// 4), ported from CPython v3.13.0 Lib/test/test_asyncio/test_tasks.py
// (BaseTaskTests). Catalogue 151 (SIGINT, test_runners.py) is left for later.
#include "asyncio_test.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace asyncio;
using asyncio_test::capture;
using asyncio_test::holds;
using asyncio_test::TestLoop;
using asyncio_test::what;

namespace {

// ≙ `done, pending = await asyncio.wait([task])`: waits until `t` is done
// without looking at its outcome.
template <class T>
Coroutine<> wait_done(Task<T> t) {
  if (t.done()) co_return;
  Future<> waiter = get_running_loop().create_future();
  t.add_done_callback([waiter](Task<T>) {
    if (!waiter.done()) waiter.set_result();
  });
  co_await waiter;
}

Coroutine<int> sleep_then(double delay, int v) {
  co_await asyncio::sleep(delay);
  co_return v;
}

Coroutine<> sleep_for(double delay) { co_await asyncio::sleep(delay); }

Coroutine<int> await_then(Future<> f, int v) {
  co_await f;
  co_return v;
}

// The cancel-message cases of test_cancel_with_message_then_future_*:
// cancel(), cancel(None), cancel('my message'), cancel(5).
struct MessageCase {
  std::optional<std::string> arg;  // nullopt: cancel() without an argument
  std::string expected;
};
const std::vector<MessageCase> message_cases = {
    {std::nullopt, ""},
    {"", ""},
    {"my message", "my message"},
    {"5", "5"},
};

bool cancel_with(TaskRef& t, const std::optional<std::string>& msg) { return msg ? t.cancel(*msg) : t.cancel(); }

std::string describe_case(const MessageCase& c) { return c.arg ? "cancel(\"" + *c.arg + "\")" : "cancel()"; }

}  // namespace

// ---------------------------------------------------------------------------
// 131. test_cancel (TestLoop)

TEST(Cancel, Cat131_Cancel) {
  TestLoop t;
  Task<int> task = t.loop.create_task(sleep_then(10.0, 12));
  t.loop.call_soon([task]() mutable { task.cancel(); });
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(task.done());
  EXPECT_TRUE(task.cancelled());
  EXPECT_FALSE(task.cancel());
  // ≙ the TestLoop generator: the 10 s timer was scheduled but never waited for.
  EXPECT_DOUBLE_EQ(t.loop.time(), 0.0);
}

// ---------------------------------------------------------------------------
// 132. test_cancel_yield

namespace {
Coroutine<int> two_yields(int* steps) {
  co_await asyncio::sleep(0);
  ++*steps;
  co_await asyncio::sleep(0);
  ++*steps;
  co_return 12;
}
}  // namespace

TEST(Cancel, Cat132_CancelYield) {
  int steps = 0;
  TestLoop t;
  Task<int> task = t.loop.create_task(two_yields(&steps));
  t.run_briefly();  // start the coroutine
  EXPECT_TRUE(task.cancel());
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(task.done());
  EXPECT_TRUE(task.cancelled());
  EXPECT_FALSE(task.cancel());
  EXPECT_LT(steps, 2);  // it never got to `return 12`
}

// ---------------------------------------------------------------------------
// 134. test_cancel_both_task_and_inner_future

TEST(Cancel, Cat134_CancelBothTaskAndInnerFuture) {
  TestLoop t;
  auto f = t.loop.create_future();
  Task<int> task = t.loop.create_task(await_then(f, 12));
  t.run_briefly();
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(task.cancel());
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(task.done());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(task.cancelled());
}

// ---------------------------------------------------------------------------
// 136. test_cancel_task_ignoring

namespace {
Coroutine<int> ignoring(Future<> fut1, Future<> fut2, Future<int> fut3, bool* caught) {
  co_await fut1;
  try {
    co_await fut2;
  } catch (const CancelledError&) {
    *caught = true;
  }
  int res = co_await fut3;
  co_return res;
}
}  // namespace

TEST(Cancel, Cat136_CancelTaskIgnoring) {
  bool caught = false;
  TestLoop t;
  auto fut1 = t.loop.create_future();
  auto fut2 = t.loop.create_future();
  auto fut3 = t.loop.create_future<int>();
  Task<int> task = t.loop.create_task(ignoring(fut1, fut2, fut3, &caught));
  t.run_briefly();
  fut1.set_result();
  t.run_briefly();
  EXPECT_FALSE(fut2.done());
  EXPECT_TRUE(task.cancel());
  EXPECT_TRUE(fut2.cancelled());  // cancelled synchronously
  t.run_briefly();
  EXPECT_TRUE(caught);
  EXPECT_FALSE(task.done());
  fut3.set_result(42);
  EXPECT_EQ(t.loop.run_until_complete(task), 42);
  EXPECT_FALSE(fut3.cancelled());
  EXPECT_FALSE(task.cancelled());
  EXPECT_EQ(task.cancelling(), 1);  // C3: not reset without uncancel()
}

// ---------------------------------------------------------------------------
// 137. test_cancel_current_task

namespace {
Coroutine<int> cancel_self_then_sleep(bool* reached) {
  TaskRef self = current_task();
  EXPECT_TRUE(self.cancel());
  EXPECT_FALSE(self.cancelled());  // does not take effect before the next await
  co_await asyncio::sleep(100);    // raises at once
  *reached = true;
  co_return 12;
}
}  // namespace

TEST(Cancel, Cat137_CancelCurrentTask) {
  bool reached = false;
  TestLoop t;
  Task<int> task = t.loop.create_task(cancel_self_then_sleep(&reached));
  EXPECT_FALSE(task.cancelled());
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(task.done());
  EXPECT_TRUE(task.cancelled());
  EXPECT_FALSE(task.cancel());
  EXPECT_FALSE(reached);
  EXPECT_DOUBLE_EQ(t.loop.time(), 0.0);  // the 100 s sleep never waited
}

// C1, test_cancel_at_end: a task that cancels itself and returns without
// awaiting again ends cancelled; its value is dropped.
TEST(Cancel, CancelAtEndDropsValue) {
  TestLoop t;
  Task<int> task = t.loop.create_task([]() -> Coroutine<int> {
    EXPECT_TRUE(current_task().cancel());
    co_return 12;
  }());
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(task.cancelled());
  EXPECT_FALSE(task.cancel());
}

// ---------------------------------------------------------------------------
// 139. test_cancel_awaited_task

namespace {
Coroutine<> nested(Future<> fut) { co_await fut; }

Coroutine<> cancel_awaited(Future<> fut, Task<>* nested_task) {
  *nested_task = create_task(nested(fut));
  co_await asyncio::sleep(0);
  // Request the current task to be cancelled, then block on the nested task,
  // which must be cancelled at once.
  EXPECT_TRUE(current_task().cancel());
  co_await *nested_task;
}
}  // namespace

TEST(Cancel, Cat139_CancelAwaitedTask) {
  TestLoop t;
  auto fut = t.loop.create_future();
  Task<> nested_task;
  Task<> task = t.loop.create_task(cancel_awaited(fut, &nested_task));
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(task.cancelled());
  ASSERT_TRUE(nested_task);
  EXPECT_TRUE(nested_task.cancelled());
  EXPECT_TRUE(fut.cancelled());
}

// ---------------------------------------------------------------------------
// 140. test_cancel_with_message_then_future_result
// 141. test_cancel_with_message_then_future_exception

namespace {
Coroutine<> cancel_then_inspect(std::optional<std::string> msg, bool use_exception) {
  Task<> task = create_task(sleep_for(10));
  co_await asyncio::sleep(0);
  TaskRef ref = task;
  EXPECT_TRUE(cancel_with(ref, msg));
  co_await wait_done(task);
  if (use_exception)
    (void)task.exception();  // raises CancelledError
  else
    task.result();  // raises CancelledError
  ADD_FAILURE() << "inspecting a cancelled task did not raise";
}

void check_cancel_then_inspect(bool use_exception) {
  for (const MessageCase& c : message_cases) {
    SCOPED_TRACE(describe_case(c));
    TestLoop t;
    Task<> task = t.loop.create_task(cancel_then_inspect(c.arg, use_exception));
    auto e = capture([&] { t.loop.run_until_complete(task); });
    ASSERT_TRUE(holds<CancelledError>(e));
    EXPECT_EQ(what(e), c.expected);
    EXPECT_TRUE(task.cancelled());
    EXPECT_DOUBLE_EQ(t.loop.time(), 0.0);
  }
}
}  // namespace

TEST(Cancel, Cat140_CancelWithMessageThenFutureResult) { check_cancel_then_inspect(false); }

TEST(Cancel, Cat141_CancelWithMessageThenFutureException) { check_cancel_then_inspect(true); }

// ---------------------------------------------------------------------------
// 142. test_cancel_with_message_before_starting_task

namespace {
Coroutine<> cancel_before_start(bool* body_ran) {
  Task<> task = create_task([](bool* body_ran) -> Coroutine<> {
    *body_ran = true;
    co_await asyncio::sleep(10);
    co_return;
  }(body_ran));
  // Deliberately no sleep here: the task has not started.
  EXPECT_TRUE(task.cancel("my message"));
  co_await wait_done(task);
  (void)task.exception();
  ADD_FAILURE() << "exception() of a cancelled task did not raise";
}
}  // namespace

TEST(Cancel, Cat142_CancelWithMessageBeforeStartingTask) {
  bool body_ran = false;
  TestLoop t;
  auto e = capture([&] { t.loop.run_until_complete(cancel_before_start(&body_ran)); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "my message");
  EXPECT_FALSE(body_ran);  // C2
}

// ---------------------------------------------------------------------------
// 143. test_cancellation_exception_context. C++ has no exception chaining:
// check that the CancelledError('msg') is what the outer catches before it
// throws its ValueError (std::invalid_argument).

namespace {
Coroutine<> set_then_sleep(Future<> fut) {
  fut.set_result();
  co_await asyncio::sleep(10);
}

Coroutine<> context_outer(Future<> fut, std::string* caught) {
  Task<> inner_task = create_task(set_then_sleep(fut));
  co_await fut;
  get_running_loop().call_soon([inner_task]() mutable { inner_task.cancel("msg"); });
  bool cancelled = false;
  try {
    co_await inner_task;
  } catch (const CancelledError& ex) {
    cancelled = true;
    *caught = ex.what();
  }
  if (cancelled) throw std::invalid_argument("cancelled");
}
}  // namespace

TEST(Cancel, Cat143_CancellationExceptionContext) {
  std::string caught = "<nothing caught>";
  TestLoop t;
  auto fut = t.loop.create_future();
  Task<> task = t.loop.create_task(context_outer(fut, &caught));
  auto e = capture([&] { t.loop.run_until_complete(task); });
  ASSERT_TRUE(holds<std::invalid_argument>(e));
  EXPECT_EQ(what(e), "cancelled");
  EXPECT_EQ(caught, "msg");
  EXPECT_FALSE(task.cancelled());
}

// ---------------------------------------------------------------------------
// 144. test_task_cancel_message_getter

TEST(Cancel, Cat144_TaskCancelMessageGetter) {
  bool ran = false;
  TestLoop t;
  Task<> task = t.loop.create_task([](bool* ran) -> Coroutine<> {
    *ran = true;
    co_return;
  }(&ran));
  EXPECT_TRUE(task.cancel("my message"));
  auto e = capture([&] { t.loop.run_until_complete(task); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "my message");
  EXPECT_FALSE(ran);
  EXPECT_TRUE(task.cancelled());
}

// ---------------------------------------------------------------------------
// 146. test_uncancel_basic (TestLoop instead of a real loop)

namespace {
Coroutine<> uncancel_after_first(bool* resumed) {
  bool cancelled = false;
  try {
    co_await asyncio::sleep(10);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    EXPECT_EQ(current_task().uncancel(), 0);
    *resumed = true;
    co_await asyncio::sleep(10);
  }
}
}  // namespace

TEST(Cancel, Cat146_UncancelBasic) {
  bool resumed = false;
  TestLoop t;
  Task<> task = t.loop.create_task(uncancel_after_first(&resumed));
  t.loop.run_until_complete(sleep_for(0.01));

  // Cancel the first sleep.
  EXPECT_TRUE(task.cancel());
  EXPECT_EQ(task.cancelling(), 1);
  EXPECT_FALSE(task.cancelled());  // not complete yet
  t.loop.run_until_complete(sleep_for(0.01));

  // After uncancel().
  EXPECT_TRUE(resumed);
  EXPECT_EQ(task.cancelling(), 0);
  EXPECT_FALSE(task.cancelled());
  EXPECT_FALSE(task.done());

  // Cancel the second sleep.
  EXPECT_TRUE(task.cancel());
  EXPECT_EQ(task.cancelling(), 1);
  EXPECT_FALSE(task.cancelled());
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(task.cancelled());
  EXPECT_TRUE(task.done());
  EXPECT_LT(t.loop.time(), 10.0);

  // uncancel() no longer has an effect once the task is complete.
  task.uncancel();
  EXPECT_TRUE(task.cancelled());
  EXPECT_TRUE(task.done());
}

// ---------------------------------------------------------------------------
// 147. test_uncancel_structured_blocks: a hand-written timeout following the
// uncancel() discipline (C7). No `finally` in C++: the exception is caught,
// the finally-part runs, then the exception is re-thrown unless converted.

namespace {
Coroutine<std::tuple<bool, bool, bool>> make_request_with_timeout(double sleep_s, double timeout) {
  TaskRef task = current_task();
  EventLoop& loop = get_running_loop();
  bool timed_out = false;
  bool structured_block_finished = false;
  bool outer_code_reached = false;

  // The callback only runs while this frame is alive: it is cancelled below.
  TimerHandle timeout_handle = loop.call_later(timeout, [&timed_out, task]() mutable {
    timed_out = true;
    task.cancel();
  });
  bool timeout_error = false;
  std::exception_ptr exc;
  try {
    // Structured block affected by the timeout.
    co_await asyncio::sleep(sleep_s);
    structured_block_finished = true;
  } catch (...) {
    exc = std::current_exception();
  }
  // finally:
  timeout_handle.cancel();
  if (timed_out && task.uncancel() == 0 && holds<CancelledError>(exc))
    timeout_error = true;  // `raise TimeoutError`, caught by `except TimeoutError` at once
  else if (exc)
    std::rethrow_exception(exc);
  if (timeout_error) {
    EXPECT_TRUE(timed_out);
  }

  // Outer code not affected by the timeout.
  outer_code_reached = true;
  co_await asyncio::sleep(0);
  co_return std::make_tuple(timed_out, structured_block_finished, outer_code_reached);
}
}  // namespace

TEST(Cancel, Cat147_UncancelStructuredBlocks) {
  TestLoop t;
  // Timed out.
  Task<std::tuple<bool, bool, bool>> t1 = t.loop.create_task(make_request_with_timeout(10.0, 0.1));
  auto [timed_out, finished, outer_reached] = t.loop.run_until_complete(t1);
  EXPECT_TRUE(timed_out);
  EXPECT_FALSE(finished);       // it was cancelled
  EXPECT_TRUE(outer_reached);   // uncancelled after leaving the block, ran to completion
  EXPECT_EQ(t1.cancelling(), 0);  // no pending cancellation of the outer task
  EXPECT_FALSE(t1.cancelled());
  EXPECT_NEAR(t.loop.time(), 0.1, 1e-9);

  // Did not time out.
  Task<std::tuple<bool, bool, bool>> t2 = t.loop.create_task(make_request_with_timeout(0, 10.0));
  auto [timed_out2, finished2, outer_reached2] = t.loop.run_until_complete(t2);
  EXPECT_FALSE(timed_out2);
  EXPECT_TRUE(finished2);
  EXPECT_TRUE(outer_reached2);
  EXPECT_EQ(t2.cancelling(), 0);
  EXPECT_NEAR(t.loop.time(), 0.1, 1e-9);  // the 10 s timeout was removed, not waited for
}

// ---------------------------------------------------------------------------
// 148. test_uncancel_resets_must_cancel

TEST(Cancel, Cat148_UncancelResetsMustCancel) {
  TestLoop t;
  auto fut = t.loop.create_future();
  Task<int> task = t.loop.create_task(await_then(fut, 42));
  t.loop.run_until_complete(sleep_for(0));  // get the task waiting for fut
  fut.set_result();                         // make the task runnable
  EXPECT_TRUE(task.cancel());               // enter the cancelled state
  EXPECT_EQ(task.cancelling(), 1);
  EXPECT_EQ(task.uncancel(), 0);  // undo the cancellation
  EXPECT_EQ(task.cancelling(), 0);
  EXPECT_EQ(t.loop.run_until_complete(task), 42);
  EXPECT_FALSE(task.cancelled());
}

// ---------------------------------------------------------------------------
// 149. test_task_cancel_waiter_future. (`task._fut_waiter is None` afterwards
// is white-box and not observable through the API.)

TEST(Cancel, Cat149_TaskCancelWaiterFuture) {
  TestLoop t;
  auto fut = t.loop.create_future();
  Task<int> task = t.loop.create_task(await_then(fut, 1));
  t.run_briefly();
  EXPECT_FALSE(fut.done());
  EXPECT_TRUE(task.cancel());
  t.run_briefly();
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_TRUE(fut.cancelled());
  EXPECT_TRUE(task.cancelled());
}

// ---------------------------------------------------------------------------
// 150. test_yield_future_passes_cancel

namespace {
Coroutine<> passes_inner(Future<> waiter, int* proof) {
  try {
    co_await waiter;
  } catch (const CancelledError&) {
    *proof += 1;
    throw;
  }
  ADD_FAILURE() << "got past the waiter in inner()";
}

Coroutine<> passes_outer(Future<> waiter, int* proof) {
  try {
    co_await passes_inner(waiter, proof);
    *proof += 10;
  } catch (const CancelledError&) {
    *proof += 100;  // expect this path
  }
}
}  // namespace

TEST(Cancel, Cat150_YieldFuturePassesCancel) {
  int proof = 0;
  TestLoop t;
  auto waiter = t.loop.create_future();
  Task<> f = t.loop.create_task(passes_outer(waiter, &proof));
  t.run_briefly();
  EXPECT_TRUE(f.cancel());
  EXPECT_NO_THROW(t.loop.run_until_complete(f));
  EXPECT_EQ(proof, 101);
  EXPECT_TRUE(waiter.cancelled());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.cancelling(), 1);
}

// ---------------------------------------------------------------------------
// Further rules of spec §1.3 and §4.

// C5: suspended on a future, the first cancel() already cancelled that future
// with its message; later messages do not replace it.
TEST(Cancel, MessageFirstWinsWhenSuspendedOnFuture) {
  TestLoop t;
  auto fut = t.loop.create_future();
  Task<int> task = t.loop.create_task(await_then(fut, 1));
  t.run_briefly();
  EXPECT_TRUE(task.cancel("first"));
  EXPECT_TRUE(fut.cancelled());
  EXPECT_TRUE(task.cancel("second"));
  EXPECT_EQ(task.cancelling(), 2);
  auto e = capture([&] { t.loop.run_until_complete(task); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "first");
  EXPECT_TRUE(task.cancelled());

  // The same when the awaited future was cancelled directly before
  // task.cancel() (test_cancel_both_task_and_inner_future with messages).
  auto fut2 = t.loop.create_future();
  Task<int> task2 = t.loop.create_task(await_then(fut2, 1));
  t.run_briefly();
  EXPECT_TRUE(fut2.cancel("from future"));
  EXPECT_TRUE(task2.cancel("from task"));
  auto e2 = capture([&] { t.loop.run_until_complete(task2); });
  ASSERT_TRUE(holds<CancelledError>(e2));
  EXPECT_EQ(what(e2), "from future");
}

// C5: before the first step, the last message wins.
TEST(Cancel, MessageLastWinsBeforeTaskStarted) {
  TestLoop t;
  Task<int> task = t.loop.create_task(sleep_then(1, 1));
  EXPECT_TRUE(task.cancel("first"));
  EXPECT_TRUE(task.cancel("second"));
  auto e = capture([&] { t.loop.run_until_complete(task); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "second");
  EXPECT_TRUE(task.cancelled());
}

// C5 seen by the coroutine itself and by every awaiter.
TEST(Cancel, MessageReachesCoroutineAndAwaiters) {
  TestLoop t;
  t.loop.run_until_complete([]() -> Coroutine<> {
    std::string seen_inside;
    Task<> task = create_task([](std::string* seen) -> Coroutine<> {
      try {
        co_await asyncio::sleep(10);
      } catch (const CancelledError& e) {
        *seen = e.what();
        throw;
      }
      co_return;
    }(&seen_inside));
    co_await asyncio::sleep(0);
    EXPECT_TRUE(task.cancel("m"));
    for (int i = 0; i < 2; ++i) {
      bool raised = false;
      try {
        co_await task;
      } catch (const CancelledError& e) {
        raised = true;
        EXPECT_STREQ(e.what(), "m");
      }
      EXPECT_TRUE(raised);
    }
    EXPECT_EQ(seen_inside, "m");
    co_return;
  }());
}

// §1.3: cancel() returns True on every call while pending; cancelling()
// counts the calls and is not reset when the task finishes.
TEST(Cancel, CancellingCountsRequests) {
  TestLoop t;
  Task<int> task = t.loop.create_task(sleep_then(10, 1));
  t.run_briefly();
  EXPECT_EQ(task.cancelling(), 0);
  EXPECT_TRUE(task.cancel());
  EXPECT_TRUE(task.cancel());
  EXPECT_TRUE(task.cancel());
  EXPECT_EQ(task.cancelling(), 3);
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_EQ(task.cancelling(), 3);
  EXPECT_FALSE(task.cancel());  // done: not counted
  EXPECT_EQ(task.cancelling(), 3);
  EXPECT_EQ(task.uncancel(), 2);
  EXPECT_EQ(task.uncancel(), 1);
  EXPECT_EQ(task.uncancel(), 0);
  EXPECT_EQ(task.uncancel(), 0);  // never below 0
  EXPECT_TRUE(task.cancelled());
}

// §1.3 uncancel(): reaching 0 withdraws a cancellation not yet delivered,
// here one requested before the first step.
TEST(Cancel, UncancelWithdrawsPendingCancelBeforeStart) {
  bool ran = false;
  TestLoop t;
  Task<int> task = t.loop.create_task([](bool* ran) -> Coroutine<int> {
    *ran = true;
    co_await asyncio::sleep(0);
    co_return 7;
  }(&ran));
  EXPECT_TRUE(task.cancel("withdrawn"));
  EXPECT_TRUE(task.cancel("withdrawn too"));
  EXPECT_EQ(task.uncancel(), 1);  // still one request: still cancelled
  EXPECT_EQ(task.uncancel(), 0);  // withdrawn
  EXPECT_EQ(t.loop.run_until_complete(task), 7);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(task.cancelled());
}

// C1: cancelled while its wake-up is queued, the task loses the value of the
// future it awaited and ends cancelled.
TEST(Cancel, CancelAfterWakeupScheduledLosesValue) {
  bool got_value = false;
  TestLoop t;
  auto fut = t.loop.create_future<int>();
  Task<> task = t.loop.create_task([](Future<int> f, bool* got) -> Coroutine<> {
    co_await f;
    *got = true;
    co_return;
  }(fut, &got_value));
  t.run_briefly();
  fut.set_result(5);
  EXPECT_TRUE(task.cancel("late"));
  auto e = capture([&] { t.loop.run_until_complete(task); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "late");
  EXPECT_FALSE(got_value);
  EXPECT_TRUE(task.cancelled());
  EXPECT_EQ(fut.result(), 5);  // the future itself kept its result
}

// C3: a coroutine may swallow the cancellation and return a value.
TEST(Cancel, SwallowCancellationAndReturnValue) {
  TestLoop t;
  Task<int> task = t.loop.create_task([]() -> Coroutine<int> {
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError&) {
      co_return 7;
    }
    co_return 0;
  }());
  t.run_briefly();
  EXPECT_TRUE(task.cancel());
  EXPECT_EQ(t.loop.run_until_complete(task), 7);
  EXPECT_FALSE(task.cancelled());
  EXPECT_TRUE(task.done());
  EXPECT_EQ(task.cancelling(), 1);  // stays > 0 without uncancel()
  EXPECT_EQ(task.exception(), nullptr);
  EXPECT_LT(t.loop.time(), 10.0);
}

// C3: ... or go on awaiting after swallowing it.
TEST(Cancel, SwallowCancellationAndContinue) {
  TestLoop t;
  Task<int> task = t.loop.create_task([]() -> Coroutine<int> {
    int swallowed = 0;
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError&) {
      ++swallowed;
    }
    co_await asyncio::sleep(1);  // not cancelled again
    co_return swallowed;
  }());
  t.run_briefly();
  EXPECT_TRUE(task.cancel());
  EXPECT_EQ(t.loop.run_until_complete(task), 1);
  EXPECT_DOUBLE_EQ(t.loop.time(), 1.0);
  EXPECT_FALSE(task.cancelled());
}

// C4: cancelling a task that awaits another task cancels the inner one with
// the same message.
namespace {
Coroutine<int> await_task(Task<int> inner) {
  int v = co_await inner;
  co_return v;
}
}  // namespace

TEST(Cancel, CancelPropagatesToAwaitedTaskWithSameMessage) {
  TestLoop t;
  Task<int> inner = t.loop.create_task(sleep_then(10, 1));
  Task<int> outer = t.loop.create_task(await_task(inner));
  t.run_briefly();
  EXPECT_TRUE(outer.cancel("stop"));
  EXPECT_EQ(inner.cancelling(), 1);  // cancelled synchronously, through outer
  auto e = capture([&] { t.loop.run_until_complete(outer); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "stop");
  EXPECT_TRUE(outer.cancelled());
  ASSERT_TRUE(inner.cancelled());
  auto ie = capture([&] { inner.result(); });
  ASSERT_TRUE(holds<CancelledError>(ie));
  EXPECT_EQ(what(ie), "stop");
  EXPECT_DOUBLE_EQ(t.loop.time(), 0.0);
}

// C4: if the inner task swallows the cancellation and returns, the outer
// receives that value and is not cancelled, although outer.cancel() was True.
TEST(Cancel, InnerSwallowsCancellationOuterGetsValue) {
  TestLoop t;
  Task<int> inner = t.loop.create_task([]() -> Coroutine<int> {
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError& e) {
      EXPECT_STREQ(e.what(), "stop");
      co_return 99;
    }
    co_return 0;
  }());
  Task<int> outer = t.loop.create_task(await_task(inner));
  t.run_briefly();
  EXPECT_TRUE(outer.cancel("stop"));
  EXPECT_EQ(t.loop.run_until_complete(outer), 99);
  EXPECT_FALSE(outer.cancelled());
  EXPECT_FALSE(inner.cancelled());
  EXPECT_EQ(outer.cancelling(), 1);
  EXPECT_EQ(inner.cancelling(), 1);
}

// §3.6: a cancelled 10 s sleep returns at once and removes its timer.
TEST(Cancel, CancelledLongSleepReturnsAtOnce) {
  TestLoop t;
  t.loop.run_until_complete([](EventLoop& loop) -> Coroutine<> {
    Task<> sleeper = create_task(sleep_for(10));
    co_await asyncio::sleep(1);
    EXPECT_TRUE(sleeper.cancel());
    bool raised = false;
    try {
      co_await sleeper;
    } catch (const CancelledError&) {
      raised = true;
    }
    EXPECT_TRUE(raised);
    EXPECT_DOUBLE_EQ(loop.time(), 1.0);
    co_return;
  }(t.loop));
  EXPECT_DOUBLE_EQ(t.loop.time(), 1.0);
  // The timer went with the sleep: running on does not reach t = 10.
  t.loop.run_until_complete(sleep_for(0.5));
  EXPECT_DOUBLE_EQ(t.loop.time(), 1.5);
  t.run_briefly();
  EXPECT_LT(t.loop.time(), 10.0);
}

// §0.1: CancelledError is not an ordinary error: `catch (const
// std::exception&)` (Python's `except Exception`) does not swallow it.
TEST(Cancel, CancelledErrorIsNotStdException) {
  bool swallowed = false;
  TestLoop t;
  Task<> task = t.loop.create_task([](bool* swallowed) -> Coroutine<> {
    try {
      co_await asyncio::sleep(10);
    } catch (const std::exception&) {
      *swallowed = true;
    }
    co_return;
  }(&swallowed));
  t.run_briefly();
  EXPECT_TRUE(task.cancel());
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  EXPECT_FALSE(swallowed);
  EXPECT_TRUE(task.cancelled());
}

// §1.3 uncancel(): a cancellation already delivered to the awaited future
// cannot be withdrawn; the coroutine still sees CancelledError.
TEST(Cancel, UncancelDoesNotUndoDeliveredCancellation) {
  TestLoop t;
  auto fut = t.loop.create_future();
  Task<int> task = t.loop.create_task([](Future<> f) -> Coroutine<int> {
    try {
      co_await f;
    } catch (const CancelledError& e) {
      EXPECT_STREQ(e.what(), "gone");
      co_return 1;
    }
    co_return 0;
  }(fut));
  t.run_briefly();
  EXPECT_TRUE(task.cancel("gone"));
  EXPECT_TRUE(fut.cancelled());
  EXPECT_EQ(task.uncancel(), 0);
  EXPECT_EQ(t.loop.run_until_complete(task), 1);
  EXPECT_FALSE(task.cancelled());
  EXPECT_EQ(task.cancelling(), 0);
}

// §1.3 cancelled(): true when the coroutine ends with a CancelledError it
// raised itself, without cancel() being called.
TEST(Cancel, SelfRaisedCancelledErrorMarksTaskCancelled) {
  TestLoop t;
  Task<int> task = t.loop.create_task([]() -> Coroutine<int> {
    co_await asyncio::sleep(0);
    throw CancelledError("by hand");
  }());
  auto e = capture([&] { t.loop.run_until_complete(task); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "by hand");
  EXPECT_TRUE(task.cancelled());
  EXPECT_EQ(task.cancelling(), 0);
  EXPECT_FALSE(task.cancel());
}

// §1.3 uncancel(): a cancellation pending at a bare yield (sleep(0)) is
// withdrawn too; the task goes on normally.
TEST(Cancel, UncancelWithdrawsPendingCancelAtYield) {
  TestLoop t;
  Task<int> task = t.loop.create_task([]() -> Coroutine<int> {
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    co_return 3;
  }());
  t.run_briefly();
  EXPECT_TRUE(task.cancel());
  EXPECT_EQ(task.uncancel(), 0);
  EXPECT_EQ(t.loop.run_until_complete(task), 3);
  EXPECT_FALSE(task.cancelled());
}

// A future cancelled by someone else: the task awaiting it gets that
// CancelledError (with its message) and ends cancelled, without any
// cancel() request of its own.
TEST(Cancel, AwaitedFutureCancelledElsewhere) {
  TestLoop t;
  auto fut = t.loop.create_future();
  Task<int> task = t.loop.create_task(await_then(fut, 1));
  t.run_briefly();
  EXPECT_TRUE(fut.cancel("x"));
  auto e = capture([&] { t.loop.run_until_complete(task); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "x");
  EXPECT_TRUE(task.cancelled());
  EXPECT_EQ(task.cancelling(), 0);
}

// C1 + S4: after cancelling itself, a task that awaits an already-done
// future does not suspend and gets its value; the next await of a pending
// future raises at once.
TEST(Cancel, SelfCancelThenAwaitDoneFutureDoesNotRaise) {
  int got = 0;
  bool after_sleep = false;
  TestLoop t;
  auto done = t.loop.create_future<int>();
  done.set_result(8);
  Task<> task = t.loop.create_task([](Future<int> f, int* got, bool* after) -> Coroutine<> {
    EXPECT_TRUE(current_task().cancel("self"));
    *got = co_await f;  // done: no suspension, no CancelledError
    co_await asyncio::sleep(5);
    *after = true;
    co_return;
  }(done, &got, &after_sleep));
  auto e = capture([&] { t.loop.run_until_complete(task); });
  ASSERT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(what(e), "self");
  EXPECT_EQ(got, 8);
  EXPECT_FALSE(after_sleep);
  EXPECT_DOUBLE_EQ(t.loop.time(), 0.0);
}
