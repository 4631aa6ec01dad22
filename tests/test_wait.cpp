// Tests for include/asyncio/wait.hpp (≙ the wait/wait_for tests of
// Lib/test/test_asyncio/test_tasks.py and test_waitfor.py, CPython v3.13.0;
// catalogue §14 C, entries 56-85), and the sleep() entries 126-130 of the
// same area. TestLoop (virtual time) wherever CPython uses one; the other
// tests run on virtual time too, so their delays are exact.
#include <asyncio/wait.hpp>  // first: proves the header is self-contained

#include <asyncio/shield.hpp>

#include "asyncio_test.hpp"

#include <cmath>
#include <exception>
#include <list>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::raises;
using asyncio_test::run_test;
using asyncio_test::TestLoop;
using asyncio_test::what;

namespace {

// The set of futures a vector holds (Python compares sets).
template <class H>
std::set<const void*> ids(const std::vector<H>& hs) {
  std::set<const void*> out;
  for (const auto& h : hs) out.insert(h.native());
  return out;
}
template <class... H>
std::set<const void*> set_of(const H&... hs) {
  return {hs.native()...};
}

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

Coroutine<int> sleep_ret(double d, int v) {
  co_await asyncio::sleep(d);
  co_return v;
}

Coroutine<> raise_after(double d) {
  if (d > 0) co_await asyncio::sleep(d);
  throw std::domain_error("err");  // ZeroDivisionError
}

// Cancels what is left and lets it finish, so that the loop closes clean
// (≙ the tests' "move forward to close generator").
void finish(TestLoop& t, Task<> task) {
  task.cancel();
  try {
    t.loop.run_until_complete(task);
  } catch (const CancelledError&) {
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// 56. test_wait (TestLoop)

namespace {
Coroutine<int> wait_both(Task<> a, Task<> b) {
  std::vector<Task<>> fs{b, a};  // not inside the co_await: GCC 12 (initializer_list array)
  auto [done, pending] = co_await asyncio::wait(fs);
  EXPECT_EQ(ids(done), set_of(a, b));
  EXPECT_TRUE(pending.empty());
  co_return 42;
}
}  // namespace

TEST(Wait, Cat056_Wait) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(0.1));
  Task<> b = t.loop.create_task(asyncio::sleep(0.15));
  EXPECT_EQ(t.loop.run_until_complete(wait_both(a, b)), 42);
  EXPECT_NEAR(t.loop.time(), 0.15, 1e-9);
  // Doing it again takes no time and exercises a different path.
  EXPECT_EQ(t.loop.run_until_complete(wait_both(a, b)), 42);
  EXPECT_NEAR(t.loop.time(), 0.15, 1e-9);
  EXPECT_TRUE(t.log.calls.empty());
}

// ---------------------------------------------------------------------------
// 57. test_wait_first_completed (TestLoop)

TEST(Wait, Cat057_WaitFirstCompleted) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(10.0));
  Task<> b = t.loop.create_task(asyncio::sleep(0.1));
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(std::vector{b, a}, FIRST_COMPLETED));
  EXPECT_EQ(ids(done), set_of(b));
  EXPECT_EQ(ids(pending), set_of(a));
  EXPECT_FALSE(a.done());
  EXPECT_TRUE(b.done());
  EXPECT_NO_THROW(b.result());
  EXPECT_NEAR(t.loop.time(), 0.1, 1e-9);
  finish(t, a);
}

// ---------------------------------------------------------------------------
// test_wait_really_done: futures that finished in the pass wait() resumes
// are all in `done`.

namespace {
Coroutine<> one_yield() { co_await asyncio::sleep(0); }
Coroutine<> two_yields() {
  co_await asyncio::sleep(0);
  co_await asyncio::sleep(0);
}
}  // namespace

TEST(Wait, WaitReallyDone) {
  TestLoop t;
  Task<> a = t.loop.create_task(one_yield());
  Task<> b = t.loop.create_task(two_yields());
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(std::vector{b, a}, FIRST_COMPLETED));
  EXPECT_EQ(ids(done), set_of(a, b));
  EXPECT_TRUE(pending.empty());
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(b.done());
}

// ---------------------------------------------------------------------------
// 59. test_wait_first_exception and 60. test_wait_first_exception_in_wait

TEST(Wait, Cat059_WaitFirstException) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(10.0));
  Task<> b = t.loop.create_task(raise_after(0));
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(std::vector{b, a}, FIRST_EXCEPTION));
  EXPECT_EQ(ids(done), set_of(b));
  EXPECT_EQ(ids(pending), set_of(a));
  EXPECT_DOUBLE_EQ(t.loop.time(), 0.0);
  finish(t, a);
  EXPECT_TRUE(t.log.calls.empty());  // FIRST_EXCEPTION looked at b's exception
}

TEST(Wait, Cat060_WaitFirstExceptionInWait) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(10.0));
  Task<> b = t.loop.create_task(raise_after(0.01));
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(std::vector{b, a}, FIRST_EXCEPTION));
  EXPECT_EQ(ids(done), set_of(b));
  EXPECT_EQ(ids(pending), set_of(a));
  EXPECT_NEAR(t.loop.time(), 0.01, 1e-9);
  finish(t, a);
}

// FIRST_EXCEPTION: a cancellation is not an exception; with none, it waits
// for all.
TEST(Wait, WaitFirstExceptionIgnoresCancellation) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(0.2));
  Task<> b = t.loop.create_task(asyncio::sleep(10));
  t.loop.call_later(0.1, [b]() mutable { b.cancel(); });
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(std::vector{a, b}, FIRST_EXCEPTION));
  EXPECT_EQ(ids(done), set_of(a, b));
  EXPECT_TRUE(pending.empty());
  EXPECT_NEAR(t.loop.time(), 0.2, 1e-9);
}

// ---------------------------------------------------------------------------
// 61. test_wait_with_exception (TestLoop): wait() never raises.

namespace {
Coroutine<> wait_with_exception(Task<> a, Task<> b) {
  std::vector<Task<>> fs{b, a};  // not inside the co_await: GCC 12 (initializer_list array)
  auto [done, pending] = co_await asyncio::wait(fs);
  EXPECT_EQ(done.size(), 2u);
  EXPECT_TRUE(pending.empty());
  int errors = 0;
  for (auto& f : done) errors += f.exception() != nullptr;
  EXPECT_EQ(errors, 1);
}
}  // namespace

TEST(Wait, Cat061_WaitWithException) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(0.1));
  Task<> b = t.loop.create_task(raise_after(0.15));
  t.loop.run_until_complete(wait_with_exception(a, b));
  EXPECT_NEAR(t.loop.time(), 0.15, 1e-9);
  t.loop.run_until_complete(wait_with_exception(a, b));
  EXPECT_NEAR(t.loop.time(), 0.15, 1e-9);
}

// ---------------------------------------------------------------------------
// 62. test_wait_with_timeout and 63. test_wait_concurrent_complete
// (TestLoop): no TimeoutError, nothing cancelled.

TEST(Wait, Cat062_WaitWithTimeout) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(0.1));
  Task<> b = t.loop.create_task(asyncio::sleep(0.15));
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(std::vector{b, a}, 0.11));
  EXPECT_EQ(ids(done), set_of(a));
  EXPECT_EQ(ids(pending), set_of(b));
  EXPECT_NEAR(t.loop.time(), 0.11, 1e-9);
  t.loop.run_until_complete(b);
  EXPECT_FALSE(b.cancelled());
  EXPECT_NEAR(t.loop.time(), 0.15, 1e-9);
}

TEST(Wait, Cat063_WaitConcurrentComplete) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(0.1));
  Task<> b = t.loop.create_task(asyncio::sleep(0.15));
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(std::vector{b, a}, 0.1));
  EXPECT_EQ(ids(done), set_of(a));
  EXPECT_EQ(ids(pending), set_of(b));
  EXPECT_NEAR(t.loop.time(), 0.1, 1e-9);
  t.loop.run_until_complete(b);
}

// The timeout as a std::chrono duration, and wait() on futures.
TEST(Wait, WaitDurationAndFutures) {
  TestLoop t;
  Future<int> f = t.loop.create_future<int>();
  Future<int> g = t.loop.create_future<int>();
  t.loop.call_later(0.05, [f] { f.set_result(1); });
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(std::vector{f, g}, std::chrono::milliseconds(80)));
  EXPECT_EQ(ids(done), set_of(f));
  EXPECT_EQ(ids(pending), set_of(g));
  EXPECT_NEAR(t.loop.time(), 0.08, 1e-9);
  EXPECT_FALSE(g.cancelled());
}

// wait() on TaskRefs: tasks of different result types in one call.
TEST(Wait, WaitOnTaskRefsOfMixedTypes) {
  TestLoop t;
  Task<int> a = t.loop.create_task(sleep_ret(0.1, 1));
  Task<> b = t.loop.create_task(asyncio::sleep(0.2));
  std::vector<TaskRef> fs{a, b};
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(fs, FIRST_COMPLETED));
  EXPECT_EQ(ids(done), set_of(a));
  EXPECT_EQ(ids(pending), set_of(b));
  EXPECT_TRUE(done.front() == a);
  t.loop.run_until_complete(b);
}

// ---------------------------------------------------------------------------
// 64. test_wait_duplicate_coroutines: duplicates collapse (set semantics).
// C++ coroutines are move-only, so the duplicate is a task.

TEST(Wait, Cat064_WaitDuplicates) {
  TestLoop t;
  Task<std::string> c = t.loop.create_task([]() -> Coroutine<std::string> { co_return "test"; }());
  Task<std::string> spam = t.loop.create_task([]() -> Coroutine<std::string> { co_return "spam"; }());
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait({c, c, spam}));
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(done.size(), 2u);
  std::set<std::string> results;
  for (auto& f : done) results.insert(f.result());
  EXPECT_EQ(results, (std::set<std::string>{"test", "spam"}));
}

// ---------------------------------------------------------------------------
// 65. test_wait_errors (+ test_wait_invalid_args). ValueError →
// std::invalid_argument, raised when awaited. wait(fut) and wait(coro), not
// a list, do not compile (Python's TypeError); neither does a list of
// coroutines ("Passing coroutines is forbidden, use tasks explicitly.").

template <class A>
concept Waitable = requires(A a) { asyncio::wait(std::forward<A>(a)); };
static_assert(!Waitable<Future<>&>);
static_assert(!Waitable<Coroutine<>>);
static_assert(Waitable<std::vector<Future<>>>);

TEST(Wait, Cat065_WaitErrors) {
  TestLoop t;
  EXPECT_THROW_MSG(t.loop.run_until_complete(asyncio::wait(std::vector<Task<>>{})), std::invalid_argument,
                   "Set of Tasks/Futures is empty.");
  Task<> s = t.loop.create_task(asyncio::sleep(10.0));
  EXPECT_THROW_MSG(t.loop.run_until_complete(asyncio::wait(std::vector{s}, std::nullopt, static_cast<ReturnWhen>(-1))),
                   std::invalid_argument, "Invalid return_when value: -1");
  // Nothing happens before the await: the coroutine is dropped unawaited.
  { auto unawaited = asyncio::wait(std::vector<Task<>>{}); }
  finish(t, s);
}

// ---------------------------------------------------------------------------
// 66. test_wait_with_iterator_of_tasks (+ test_wait_generator): any range.

TEST(Wait, Cat066_WaitWithIteratorOfTasks) {
  TestLoop t;
  Task<> a = t.loop.create_task(asyncio::sleep(0.1));
  Task<> b = t.loop.create_task(asyncio::sleep(0.15));
  std::list<Task<>> lst{b, a};
  auto [done, pending] = t.loop.run_until_complete(asyncio::wait(lst));
  EXPECT_EQ(ids(done), set_of(a, b));
  EXPECT_TRUE(pending.empty());
  EXPECT_NEAR(t.loop.time(), 0.15, 1e-9);

  // A generator of 10 tasks: a lazy view making the tasks as it goes.
  std::vector<Task<int>> made;
  auto gen = std::views::iota(0, 10) | std::views::transform([&](int i) {
               made.push_back(t.loop.create_task(sleep_ret(0.01 * i, i)));
               return made.back();
             });
  auto [done2, pending2] = t.loop.run_until_complete(asyncio::wait(gen));
  EXPECT_EQ(done2.size(), 10u);
  EXPECT_TRUE(pending2.empty());
  EXPECT_EQ(made.size(), 10u);
}

// ---------------------------------------------------------------------------
// 67. test_yield_wait_does_not_shield_cancel: cancelling the waiting task
// leaves the awaited tasks running.

namespace {
Coroutine<> inner_67(Future<> waiter, int* proof) {
  co_await waiter;
  *proof += 1;
}
Coroutine<> outer_67(Future<> waiter, int* proof) {
  std::vector<Task<>> fs{create_task(inner_67(waiter, proof))};
  auto [d, p] = co_await asyncio::wait(fs);
  *proof += 100;
}
}  // namespace

TEST(Wait, Cat067_YieldWaitDoesNotShieldCancel) {
  TestLoop t;
  int proof = 0;
  Future<> waiter = t.loop.create_future();
  Task<> f = t.loop.create_task(outer_67(waiter, &proof));
  t.run_briefly();
  f.cancel();
  EXPECT_THROW(t.loop.run_until_complete(f), CancelledError);
  waiter.set_result();
  t.run_briefly();
  EXPECT_EQ(proof, 1);
}

// ---------------------------------------------------------------------------
// 68. test_wait_for: the task is cancelled and its cleanup has run when
// TimeoutError is raised.

namespace {
Coroutine<std::string> foo_running_task(bool* foo_running, Future<>* started = nullptr) {
  *foo_running = true;
  if (started) started->set_result();
  try {
    co_await asyncio::sleep(10);
  } catch (...) {
    *foo_running = false;
    throw;
  }
  *foo_running = false;
  co_return "done";
}
Coroutine<> wait_for_68() {
  bool foo_running = false;
  Task<std::string> fut = create_task(foo_running_task(&foo_running));
  const double t0 = now();
  auto e = co_await raises(wait_for(fut, 0.1));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_NEAR(now() - t0, 0.1, 1e-9);
  EXPECT_TRUE(fut.done());
  EXPECT_TRUE(fut.cancelled());
  EXPECT_FALSE(foo_running);
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(WaitFor, Cat068_WaitFor) { run_test(wait_for_68()); }

// ---------------------------------------------------------------------------
// 69. test_wait_for_blocking

TEST(WaitFor, Cat069_WaitForBlocking) {
  auto r = run_test([]() -> Coroutine<std::string> {
    co_return co_await wait_for([]() -> Coroutine<std::string> { co_return "done"; }(), std::nullopt);
  }());
  EXPECT_EQ(r, "done");
}

// ---------------------------------------------------------------------------
// 70. test_wait_for_timeout_less_then_0_or_0_future_done

namespace {
Coroutine<> future_done_70() {
  Future<std::string> fut = get_running_loop().create_future<std::string>();
  fut.set_result("done");
  const double t0 = now();
  std::string ret = co_await wait_for(fut, 0);
  EXPECT_EQ(ret, "done");
  EXPECT_TRUE(fut.done());
  EXPECT_DOUBLE_EQ(now(), t0);
}
}  // namespace

TEST(WaitFor, Cat070_TimeoutZeroFutureDone) { run_test(future_done_70()); }

// ---------------------------------------------------------------------------
// 71. test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started

namespace {
Coroutine<> set_flag(bool* started) {
  *started = true;
  co_return;
}
Coroutine<> not_started_71() {
  bool foo_started = false;
  auto e = co_await raises(wait_for(set_flag(&foo_started), 0));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(holds<CancelledError>(cause_of(e)));
  EXPECT_FALSE(foo_started);
  EXPECT_DOUBLE_EQ(now(), 0.0);
}
}  // namespace

TEST(WaitFor, Cat071_TimeoutZeroCoroutineNotStarted) { run_test(not_started_71()); }

// ---------------------------------------------------------------------------
// test_wait_for_timeout_less_then_0_or_0: a started task, timeout 0 and -1.

namespace {
Coroutine<> less_than_zero() {
  for (double timeout : {0.0, -1.0}) {
    bool foo_running = false;
    Future<> started = get_running_loop().create_future();
    Task<std::string> fut = create_task(foo_running_task(&foo_running, &started));
    co_await started;
    const double t0 = now();
    auto e = co_await raises(wait_for(fut, timeout));
    EXPECT_TRUE(holds<TimeoutError>(e)) << timeout;
    EXPECT_TRUE(fut.done());
    EXPECT_TRUE(fut.cancelled());
    EXPECT_FALSE(foo_running);
    EXPECT_DOUBLE_EQ(now(), t0);
  }
}
}  // namespace

TEST(WaitFor, TimeoutLessThanZeroOrZero) { run_test(less_than_zero()); }

// ---------------------------------------------------------------------------
// 73. test_wait_for_race_condition

namespace {
Coroutine<> race_73() {
  EventLoop& loop = get_running_loop();
  Future<std::string> fut = loop.create_future<std::string>();
  auto task = wait_for(fut, 0.2);
  loop.call_later(0.1, [fut] { fut.set_result("ok"); });
  std::string res = co_await task;
  EXPECT_EQ(res, "ok");
}
}  // namespace

TEST(WaitFor, Cat073_WaitForRaceCondition) { run_test(race_73()); }

// ---------------------------------------------------------------------------
// test_wait_for_cancellation_race_condition and test_wait_for_cancel_suppressed
// (GH-86296): the awaitable swallows the cancellation and returns a value;
// wait_for returns it.

namespace {
Coroutine<int> swallow_and_return(int v) {
  auto e = co_await raises(asyncio::sleep(1));
  EXPECT_TRUE(holds<CancelledError>(e));
  co_return v;
}
Coroutine<int> return_42() {
  try {
    co_await asyncio::sleep(10);
  } catch (const CancelledError&) {
    co_return 42;
  }
  co_return 0;
}
Coroutine<> suppressed() {
  EXPECT_EQ(co_await wait_for(swallow_and_return(1), 0.01), 1);
  EXPECT_EQ(co_await wait_for(return_42(), 0.1), 42);
  // 3.12+: a task too (test_wait_for_raises_timeout_error_if_returned_during_cancellation
  // of 3.11 raised TimeoutError here).
  Task<int> t = create_task(return_42());
  EXPECT_EQ(co_await wait_for(t, 0.0001), 42);
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(WaitFor, WaitForCancelSuppressed) { run_test(suppressed()); }

// ---------------------------------------------------------------------------
// 75. test_wait_for_waits_for_task_cancellation (+ 76. _w_timeout_0)

namespace {
constexpr double kEpsilon = 0.0001;
// ≙ try: await sleep(10) / except CancelledError: await sleep(EPS); raise /
// finally: task_done = True
Coroutine<> slow_cleanup(bool* task_done) {
  std::exception_ptr cancelled;
  try {
    co_await asyncio::sleep(10);
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  if (cancelled) co_await asyncio::sleep(kEpsilon);
  *task_done = true;
  if (cancelled) std::rethrow_exception(cancelled);
}
Coroutine<> waits_for_cancellation(double timeout, bool started) {
  bool task_done = false;
  Task<> inner_task = create_task(slow_cleanup(&task_done));
  if (started) co_await asyncio::sleep(kEpsilon);
  auto e = co_await raises(wait_for(inner_task, timeout));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_TRUE(task_done);
  EXPECT_TRUE(holds<CancelledError>(cause_of(e)));
}
}  // namespace

TEST(WaitFor, Cat075_WaitsForTaskCancellation) { run_test(waits_for_cancellation(kEpsilon, false)); }
TEST(WaitFor, Cat076_WaitsForTaskCancellationTimeoutZero) { run_test(waits_for_cancellation(0, true)); }

// ---------------------------------------------------------------------------
// 77. test_wait_for_reraises_exception_during_cancellation

namespace {
struct FooException : std::runtime_error {
  FooException() : std::runtime_error("FooException") {}
};
Coroutine<> raise_foo_in_finally() {
  try {
    co_await asyncio::sleep(0.2);
  } catch (...) {
    throw FooException();
  }
  throw FooException();
}
Coroutine<> reraises_77() {
  Task<> inner_task = create_task(raise_foo_in_finally());
  auto e = co_await raises(wait_for(inner_task, kEpsilon));
  EXPECT_TRUE(holds<FooException>(e));
  // And with timeout 0 on a started task.
  Task<> again = create_task(raise_foo_in_finally());
  co_await asyncio::sleep(0);
  e = co_await raises(wait_for(again, 0));
  EXPECT_TRUE(holds<FooException>(e));
}
}  // namespace

TEST(WaitFor, Cat077_ReraisesExceptionDuringCancellation) { run_test(reraises_77()); }

// ---------------------------------------------------------------------------
// 78. test_cancel_wait_for (+ test_cancel_blocking_wait_for)

namespace {
Coroutine<> blocking_coroutine() {
  Future<> fut = get_running_loop().create_future();
  co_await fut;  // never set
}
Coroutine<> cancel_wait_for(std::optional<double> timeout) {
  EventLoop& loop = get_running_loop();
  Task<> task = create_task(blocking_coroutine());
  Task<> wait = create_task(wait_for(task, timeout));
  loop.call_soon([wait]() mutable { wait.cancel(); });
  auto e = co_await raises(wait);
  EXPECT_TRUE(holds<CancelledError>(e));
  // Python issue #23219: cancelling the wait must also cancel the task.
  EXPECT_TRUE(task.cancelled());
}
}  // namespace

TEST(WaitFor, Cat078_CancelWaitFor) {
  run_test(cancel_wait_for(60.0));
  run_test(cancel_wait_for(std::nullopt));
}

// ---------------------------------------------------------------------------
// test_wait_for_self_cancellation: wait_for itself stays cancellable while
// the task holds up the cancellation.

namespace {
Coroutine<int> stubborn() {
  // try: sleep / except Cancelled: (try: sleep / except Cancelled: sleep)
  bool cancelled = false;
  try {
    co_await asyncio::sleep(0.3);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    bool again = false;
    try {
      co_await asyncio::sleep(0.3);
    } catch (const CancelledError&) {
      again = true;
    }
    if (again) co_await asyncio::sleep(0.3);
  }
  co_return 42;
}
Coroutine<> self_cancellation() {
  Task<int> inner_task = create_task(stubborn());
  auto wait = wait_for(inner_task, 0.1);
  // wait_for itself is cancellable even when the task holds up the
  // cancellation (3.13's version of the test: cancelled before it starts).
  Task<int> task = create_task(std::move(wait));
  task.cancel();
  auto e = co_await raises(task);
  EXPECT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(co_await inner_task, 42);
  EXPECT_NEAR(now(), 0.3, 1e-9);
}
}  // namespace

TEST(WaitFor, WaitForSelfCancellation) { run_test(self_cancellation()); }

// ---------------------------------------------------------------------------
// 80. test_wait_for_issue86296: a cancel right after the inner finished is
// not lost.

namespace {
Coroutine<> returns_at_once() { co_return; }
Coroutine<> wait_for_coro(bool* reached_end) {
  co_await wait_for(returns_at_once(), 100);
  co_await asyncio::sleep(1);
  *reached_end = true;
}
Coroutine<> issue86296() {
  bool reached_end = false;
  Task<> task = create_task(wait_for_coro(&reached_end));
  co_await asyncio::sleep(0);
  EXPECT_FALSE(task.done());
  task.cancel();
  auto e = co_await raises(task);
  EXPECT_TRUE(holds<CancelledError>(e));
  EXPECT_FALSE(reached_end);
}
}  // namespace

TEST(WaitFor, Cat080_WaitForIssue86296) { run_test(issue86296()); }

// ---------------------------------------------------------------------------
// 81. test_asyncio_wait_for_timeout (+ test_asyncio_wait_for_cancelled):
// SlowTask ignores cancellations for 0.2 s.

namespace {
struct SlowTask {
  static constexpr double timeout = 0.2;
  bool exited = false;
  Coroutine<> run() {
    const double exitat = now() + timeout;
    for (;;) {
      const double tosleep = exitat - now();
      if (tosleep <= 0) break;
      try {
        co_await asyncio::sleep(tosleep);
      } catch (const CancelledError&) {
      }
    }
    exited = true;
  }
};
Coroutine<> wait_for_timeout_81() {
  SlowTask t;
  try {
    co_await wait_for(t.run(), SlowTask::timeout / 2);
  } catch (const TimeoutError&) {
  }
  EXPECT_TRUE(t.exited);
  EXPECT_NEAR(now(), 0.2, 1e-9);
}
Coroutine<> wait_for_cancelled() {
  SlowTask t;
  Task<> waitfortask = create_task(wait_for(t.run(), SlowTask::timeout * 2));
  co_await asyncio::sleep(0);
  waitfortask.cancel();
  std::vector<Task<>> fs{waitfortask};
  co_await asyncio::wait(fs);
  EXPECT_TRUE(t.exited);
}
}  // namespace

TEST(WaitFor, Cat081_AsyncioWaitForTimeout) {
  run_test(wait_for_timeout_81());
  run_test(wait_for_cancelled());
}

// ---------------------------------------------------------------------------
// WaitForShieldTests: 84. test_shielded_timeout, 85. test_none_timeout,
// test_zero_timeout

namespace {
Coroutine<std::string> done_after(double d) {
  co_await asyncio::sleep(d);
  co_return "done";
}
Coroutine<> shielded_timeout() {
  Task<std::string> task = create_task(done_after(0.1));
  auto e = co_await raises(wait_for(shield(task), 0.01));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_FALSE(task.done());
  EXPECT_FALSE(task.cancelled());
  EXPECT_EQ(co_await task, "done");
}
Coroutine<> none_timeout() {
  Task<std::string> task = create_task(done_after(0.1));
  co_await wait_for(shield(task), std::nullopt);
  EXPECT_TRUE(task.done());
  EXPECT_EQ(task.result(), "done");
}
Coroutine<> zero_timeout() {
  Task<std::string> task = create_task(done_after(0.01));
  Future<std::string> shielded_task = shield(task);
  auto e = co_await raises(wait_for(shielded_task, 0));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_FALSE(task.done());
  EXPECT_FALSE(task.cancelled());
  EXPECT_TRUE(shielded_task.cancelled());
  co_await asyncio::sleep(0.1);
  EXPECT_TRUE(task.done());
}
}  // namespace

TEST(WaitFor, Cat084_ShieldedTimeout) { run_test(shielded_timeout()); }
TEST(WaitFor, Cat085_NoneTimeout) { run_test(none_timeout()); }
TEST(WaitFor, ShieldZeroTimeout) { run_test(zero_timeout()); }

// wait_for() on a coroutine runs it in the calling task (3.12+), and takes
// a std::chrono timeout.
namespace {
Coroutine<TaskRef> which_task() { co_return current_task(); }
Coroutine<> runs_inline() {
  TaskRef inner = co_await wait_for(which_task(), 1.0);
  EXPECT_TRUE(inner == current_task());
  auto e = co_await raises(wait_for(asyncio::sleep(1), std::chrono::milliseconds(10)));
  EXPECT_TRUE(holds<TimeoutError>(e));
  EXPECT_NEAR(now(), 0.01, 1e-9);
}
}  // namespace

TEST(WaitFor, CoroutineRunsInCallersTask) { run_test(runs_inline()); }

// ---------------------------------------------------------------------------
// sleep (area 3): 126-130

TEST(Sleep, Cat126_Sleep) {
  TestLoop t;
  auto sleeper = [](double dt, std::string arg) -> Coroutine<std::string> {
    co_await asyncio::sleep(dt / 2);
    std::string res = co_await asyncio::sleep(dt / 2, arg);
    co_return res;
  };
  Task<std::string> task = t.loop.create_task(sleeper(0.1, "yeah"));
  t.loop.run_until_complete(task);
  EXPECT_TRUE(task.done());
  EXPECT_EQ(task.result(), "yeah");
  EXPECT_NEAR(t.loop.time(), 0.1, 1e-9);
}

TEST(Sleep, Cat127_SleepWhenDelayIsNan) {
  TestLoop t;
  EXPECT_THROW_MSG(t.loop.run_until_complete(asyncio::sleep(std::nan(""))), std::invalid_argument,
                   "Invalid delay: NaN (not a number)");
}

// The timer handle itself is private: its cancellation shows as the loop
// never advancing to it.
TEST(Sleep, Cat128_SleepCancel) {
  TestLoop t;
  Task<std::string> task = t.loop.create_task(asyncio::sleep(10.0, std::string("yeah")));
  t.run_briefly();
  task.cancel();
  t.run_briefly();
  EXPECT_TRUE(task.cancelled());
  EXPECT_THROW(t.loop.run_until_complete(task), CancelledError);
  t.loop.run_until_complete(asyncio::sleep(0.5));
  EXPECT_NEAR(t.loop.time(), 0.5, 1e-9);  // the 10 s timer is gone
}

TEST(Sleep, Cat129_SleepZero) {
  int result = 0;
  auto coro = [](int* result) -> Coroutine<> {
    get_running_loop().call_soon([result] { *result += 1; });
    EXPECT_EQ(*result, 0);
    int num = co_await asyncio::sleep(0, 10);
    EXPECT_EQ(*result, 1);  // the callback has run
    EXPECT_EQ(num, 10);
  };
  run_test(coro(&result));
  EXPECT_EQ(result, 1);
}

TEST(Sleep, Cat130_TaskCancelSleepingTask) {
  TestLoop t;
  auto doit = []() -> Coroutine<std::string> {
    Task<> sleeper = create_task(asyncio::sleep(5000));
    get_running_loop().call_later(0.1, [sleeper]() mutable { sleeper.cancel(); });
    try {
      co_await sleeper;
    } catch (const CancelledError&) {
      co_return "cancelled";
    }
    co_return "slept in";
  };
  EXPECT_EQ(t.loop.run_until_complete(doit()), "cancelled");
  EXPECT_NEAR(t.loop.time(), 0.1, 1e-9);
}
