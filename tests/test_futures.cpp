// Acceptance tests for Future<T> (spec §1.2, §0.2, S5; catalogue area 1,
// numbers 20-30 — the rest of area 1 is in test_tasks.cpp, whose header lists
// the skipped numbers).
//
// Ported from CPython v3.13.0 Lib/test/test_asyncio/test_futures.py
// (BaseFutureTests, BaseFutureDoneCallbackTests).
#include "asyncio_test.hpp"

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::capture;
using asyncio_test::holds;

namespace {

using Loop = asyncio_test::TestLoop;

// Plain functions: add_done_callback gives every registration of the same
// plain function the same CallbackId (CPython removes by function identity).
std::vector<int> bag;
void cb_42(Future<std::string>) { bag.push_back(42); }
void cb_17(Future<std::string>) { bag.push_back(17); }
void cb_100(Future<std::string>) { bag.push_back(100); }
void cb_1(Future<std::string>) { bag.push_back(1); }
void cb_2(Future<std::string>) { bag.push_back(2); }
void cb_3(Future<std::string>) { bag.push_back(3); }

}  // namespace

// ---------------------------------------------------------------- state machine

// test_futures.py::BaseFutureTests::test_initial_state
TEST(Futures, Cat020_InitialState) {
  Loop t;
  Future<int> f = t.loop.create_future<int>();
  EXPECT_FALSE(f.cancelled());
  EXPECT_FALSE(f.done());
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
}

// test_futures.py::BaseFutureTests::test_cancel
TEST(Futures, Cat021_Cancel) {
  Loop t;
  Future<std::string> f = t.loop.create_future<std::string>();
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_THROW(f.result(), CancelledError);
  EXPECT_THROW(f.exception(), CancelledError);
  EXPECT_THROW_MSG(f.set_result("x"), InvalidStateError, "invalid state");
  EXPECT_THROW_MSG(f.set_exception(std::runtime_error("e")), InvalidStateError, "invalid state");
  EXPECT_FALSE(f.cancel());
  EXPECT_TRUE(f.cancelled());
}

// test_futures.py::BaseFutureTests::test_result
TEST(Futures, Cat022_Result) {
  Loop t;
  Future<int> f = t.loop.create_future<int>();
  EXPECT_THROW_MSG(f.result(), InvalidStateError, "Result is not set.");

  f.set_result(42);
  EXPECT_FALSE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 42);
  EXPECT_EQ(f.exception(), nullptr);
  EXPECT_THROW_MSG(f.set_result(0), InvalidStateError, "invalid state");
  EXPECT_THROW_MSG(f.set_exception(std::runtime_error("e")), InvalidStateError, "invalid state");
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 42);  // the failed set_* calls changed nothing
}

// test_futures.py::BaseFutureTests::test_exception
TEST(Futures, Cat023_Exception) {
  Loop t;
  Future<int> f = t.loop.create_future<int>();
  EXPECT_THROW_MSG(f.exception(), InvalidStateError, "Exception is not set.");

  const std::exception_ptr exc = std::make_exception_ptr(RuntimeError("boom"));
  f.set_exception(exc);
  EXPECT_FALSE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_THROW_MSG(f.result(), RuntimeError, "boom");
  EXPECT_TRUE(f.exception() == exc);  // the very object given to set_exception
  EXPECT_THROW_MSG(f.set_result(0), InvalidStateError, "invalid state");
  EXPECT_THROW_MSG(f.set_exception(std::runtime_error("e")), InvalidStateError, "invalid state");
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
}

// set_exception with an exception object (CPython: set_exception(RuntimeError('x'))).
TEST(Futures, SetExceptionFromObject) {
  Loop t;
  Future<int> f = t.loop.create_future<int>();
  f.set_exception(std::out_of_range("range"));
  EXPECT_THROW_MSG(f.result(), std::out_of_range, "range");
  EXPECT_TRUE(holds<std::out_of_range>(f.exception()));
}

// result() rethrows the stored exception object itself, every time.
TEST(Futures, ResultRethrowsSameExceptionObject) {
  Loop t;
  Future<int> f = t.loop.create_future<int>();
  const std::exception_ptr exc = std::make_exception_ptr(RuntimeError("same"));
  f.set_exception(exc);
  const std::exception_ptr e1 = capture([&] { f.result(); });
  const std::exception_ptr e2 = capture([&] { f.result(); });
  EXPECT_TRUE(e1 == exc);
  EXPECT_TRUE(e2 == exc);
}

TEST(Futures, VoidFuture) {
  Loop t;
  Future<> f = t.loop.create_future();
  EXPECT_THROW_MSG(f.result(), InvalidStateError, "Result is not set.");
  f.set_result();
  EXPECT_TRUE(f.done());
  EXPECT_NO_THROW(f.result());
  EXPECT_EQ(f.exception(), nullptr);
  EXPECT_THROW_MSG(f.set_result(), InvalidStateError, "invalid state");
}

// Copies of a Future handle share one state.
TEST(Futures, CopiesShareState) {
  Loop t;
  Future<int> f = t.loop.create_future<int>();
  Future<int> g = f;
  EXPECT_TRUE(f == g);
  g.set_result(3);
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 3);
  EXPECT_EQ(&f.result(), &g.result());
  EXPECT_EQ(&f.get_loop(), &t.loop);
}

TEST(Futures, MoveOnlyResult) {
  Loop t;
  Future<std::unique_ptr<int>> f = t.loop.create_future<std::unique_ptr<int>>();
  f.set_result(std::make_unique<int>(7));
  std::unique_ptr<int> p = std::move(f.result());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);
  EXPECT_EQ(f.result(), nullptr);  // result() is the stored object, now moved from
}

// test_futures.py::BaseFutureTests::test_future_cancel_message_getter
TEST(Futures, Cat025_CancelMessageGetter) {
  Loop t;
  Future<int> f = t.loop.create_future<int>();
  EXPECT_TRUE(f.cancel("my message"));
  EXPECT_THROW_MSG(t.loop.run_until_complete(f), CancelledError, "my message");
  EXPECT_THROW_MSG(f.result(), CancelledError, "my message");
  EXPECT_THROW_MSG(f.exception(), CancelledError, "my message");
}

// A task awaiting a future gets the value stored in it: the same object
// each time, and the same object result() gives.
TEST(Futures, AwaitGivesStoredObject) {
  Loop t;
  Future<std::string> f = t.loop.create_future<std::string>();
  t.loop.call_soon([f] { f.set_result("value"); });
  t.loop.run_until_complete([](Future<std::string> f) -> Coroutine<> {
    std::string& a = co_await f;
    std::string& b = co_await f;
    EXPECT_EQ(a, "value");
    EXPECT_EQ(&a, &b);
    EXPECT_EQ(&a, &f.result());
    co_return;
  }(f));
}

// ---------------------------------------------------------------- done callbacks

// test_futures.py::BaseFutureDoneCallbackTests::test_callbacks_invoked_on_set_result
TEST(Futures, Cat026_CallbacksInvokedOnSetResult) {
  Loop t;
  bag.clear();
  Future<std::string> f = t.loop.create_future<std::string>();
  f.add_done_callback(cb_42);
  f.add_done_callback(cb_17);
  EXPECT_TRUE(bag.empty());
  f.set_result("foo");
  EXPECT_TRUE(bag.empty());  // S5: never inline
  t.run_passes(1);
  EXPECT_EQ(bag, (std::vector<int>{42, 17}));
  EXPECT_EQ(f.result(), "foo");
}

// test_futures.py::BaseFutureDoneCallbackTests::test_callbacks_invoked_on_set_exception
TEST(Futures, Cat026_CallbacksInvokedOnSetException) {
  Loop t;
  bag.clear();
  Future<std::string> f = t.loop.create_future<std::string>();
  f.add_done_callback(cb_100);
  EXPECT_TRUE(bag.empty());
  const std::exception_ptr exc = std::make_exception_ptr(std::invalid_argument("bad"));
  f.set_exception(exc);
  EXPECT_TRUE(bag.empty());
  t.run_passes(1);
  EXPECT_EQ(bag, (std::vector<int>{100}));
  EXPECT_TRUE(f.exception() == exc);
}

// Cancelling runs the callbacks too (through the loop).
TEST(Futures, CallbacksInvokedOnCancel) {
  Loop t;
  bag.clear();
  Future<std::string> f = t.loop.create_future<std::string>();
  f.add_done_callback(cb_1);
  f.add_done_callback(cb_2);
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(bag.empty());
  t.run_passes(1);
  EXPECT_EQ(bag, (std::vector<int>{1, 2}));
}

// test_futures.py::BaseFutureDoneCallbackTests::test_callbacks_remove_first_callback
TEST(Futures, Cat028_CallbacksRemoveFirstCallback) {
  Loop t;
  bag.clear();
  Future<std::string> f = t.loop.create_future<std::string>();
  const CallbackId id1 = f.add_done_callback(cb_42);
  f.add_done_callback(cb_17);
  f.add_done_callback(cb_100);
  EXPECT_EQ(f.remove_done_callback(id1), 1u);
  EXPECT_EQ(f.remove_done_callback(id1), 0u);
  EXPECT_TRUE(bag.empty());
  f.set_result("foo");
  t.run_passes(1);
  EXPECT_EQ(bag, (std::vector<int>{17, 100}));
  EXPECT_EQ(f.result(), "foo");
}

// test_futures.py::BaseFutureDoneCallbackTests::test_callbacks_remove_first_and_second_callback
TEST(Futures, Cat028_CallbacksRemoveFirstAndSecondCallback) {
  Loop t;
  bag.clear();
  Future<std::string> f = t.loop.create_future<std::string>();
  const CallbackId id1 = f.add_done_callback(cb_42);
  const CallbackId id2 = f.add_done_callback(cb_17);
  f.add_done_callback(cb_100);
  EXPECT_EQ(f.remove_done_callback(id1), 1u);
  EXPECT_EQ(f.remove_done_callback(id2), 1u);
  EXPECT_TRUE(bag.empty());
  f.set_result("foo");
  t.run_passes(1);
  EXPECT_EQ(bag, (std::vector<int>{100}));
  EXPECT_EQ(f.result(), "foo");
}

// test_futures.py::BaseFutureDoneCallbackTests::test_callbacks_remove_third_callback
TEST(Futures, Cat028_CallbacksRemoveThirdCallback) {
  Loop t;
  bag.clear();
  Future<std::string> f = t.loop.create_future<std::string>();
  f.add_done_callback(cb_42);
  f.add_done_callback(cb_17);
  const CallbackId id3 = f.add_done_callback(cb_100);
  EXPECT_EQ(f.remove_done_callback(id3), 1u);
  EXPECT_TRUE(bag.empty());
  f.set_result("foo");
  t.run_passes(1);
  EXPECT_EQ(bag, (std::vector<int>{42, 17}));
  EXPECT_EQ(f.result(), "foo");
}

// test_futures.py::BaseFutureDoneCallbackTests::test_remove_done_callback
TEST(Futures, Cat029_RemoveDoneCallback) {
  Loop t;
  bag.clear();
  Future<std::string> f = t.loop.create_future<std::string>();
  // cb_3 is never registered on f; its id comes from another future.
  Future<std::string> other = t.loop.create_future<std::string>();
  const CallbackId id3 = other.add_done_callback(cb_3);

  // Add one cb1 and one cb2.
  const CallbackId id1 = f.add_done_callback(cb_1);
  const CallbackId id2 = f.add_done_callback(cb_2);
  // One instance of cb2 removed. Now there's only one cb1.
  EXPECT_EQ(f.remove_done_callback(id2), 1u);
  // Never had any cb3 in there.
  EXPECT_EQ(f.remove_done_callback(id3), 0u);
  // After this there will be 6 instances of cb1 and one of cb2.
  EXPECT_EQ(f.add_done_callback(cb_2), id2);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.add_done_callback(cb_1), id1);
  // Remove all instances of cb1. One cb2 remains.
  EXPECT_EQ(f.remove_done_callback(id1), 6u);

  EXPECT_TRUE(bag.empty());
  f.set_result("foo");
  t.run_passes(1);
  EXPECT_EQ(bag, (std::vector<int>{2}));
  EXPECT_EQ(f.result(), "foo");
}

// Callables other than plain functions get an id per registration: removing
// one registration leaves the others.
TEST(Futures, LambdaCallbacksHaveDistinctIds) {
  Loop t;
  std::vector<std::string> events;
  Future<int> f = t.loop.create_future<int>();
  const CallbackId a = f.add_done_callback([&events](Future<int>) { events.push_back("a"); });
  const CallbackId b = f.add_done_callback([&events](Future<int>) { events.push_back("b"); });
  const CallbackId c = f.add_done_callback([&events](Future<int>) { events.push_back("c"); });
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_EQ(f.remove_done_callback(b), 1u);
  EXPECT_EQ(f.remove_done_callback(b), 0u);
  f.set_result(1);
  t.run_passes(1);
  EXPECT_EQ(events, (std::vector<std::string>{"a", "c"}));
}

// Once the future is done its callbacks are already scheduled: removing
// one then finds nothing, and it still runs (CPython clears _callbacks in
// __schedule_callbacks).
TEST(Futures, RemoveAfterDoneFindsNothing) {
  Loop t;
  bag.clear();
  Future<std::string> f = t.loop.create_future<std::string>();
  const CallbackId id = f.add_done_callback(cb_42);
  f.set_result("x");
  EXPECT_EQ(f.remove_done_callback(id), 0u);
  t.run_passes(1);
  EXPECT_EQ(bag, (std::vector<int>{42}));
}

// The callback receives the future itself, already done.
TEST(Futures, CallbackReceivesTheFuture) {
  Loop t;
  Future<int> f = t.loop.create_future<int>();
  int calls = 0;
  f.add_done_callback([&calls, f](Future<int> g) {
    ++calls;
    EXPECT_TRUE(g == f);
    EXPECT_TRUE(g.done());
    EXPECT_EQ(g.result(), 5);
  });
  f.set_result(5);
  t.run_passes(1);
  EXPECT_EQ(calls, 1);
}

// S5 exactly: completing a future queues its callbacks, in registration
// order, behind what is already queued; a callback added to a done future
// is queued on its own, behind what was queued in between. Nothing inline.
TEST(Futures, S5_CallbacksAreScheduledNotInline) {
  Loop t;
  std::vector<std::string> events;
  Future<int> f = t.loop.create_future<int>();
  f.add_done_callback([&events](Future<int>) { events.push_back("cb1"); });
  f.add_done_callback([&events](Future<int>) { events.push_back("cb2"); });
  t.loop.call_soon([&events] { events.push_back("x"); });
  f.set_result(1);
  events.push_back("after set_result");
  t.loop.call_soon([&events] { events.push_back("y"); });
  f.add_done_callback([&events](Future<int>) { events.push_back("cb3"); });
  events.push_back("after late add");
  t.run_passes(1);
  EXPECT_EQ(events, (std::vector<std::string>{"after set_result", "after late add", "x", "cb1", "cb2", "y", "cb3"}));
}

// A callback registered from inside a done-callback of a done future runs
// on the next pass, not in the current one.
TEST(Futures, S5_CallbackAddedDuringCallbacksRunsNextPass) {
  Loop t;
  std::vector<std::string> events;
  Future<int> f = t.loop.create_future<int>();
  f.add_done_callback([&events](Future<int> g) {
    events.push_back("outer");
    g.add_done_callback([&events](Future<int>) { events.push_back("inner"); });
  });
  f.set_result(1);
  t.run_passes(1);
  EXPECT_EQ(events, (std::vector<std::string>{"outer"}));
  t.run_passes(1);
  EXPECT_EQ(events, (std::vector<std::string>{"outer", "inner"}));
}

// §1.4: a done-callback that throws is reported ("Exception in callback
// ...") and the loop goes on with the next callback.
TEST(Futures, CallbackErrorIsReportedAndLoopContinues) {
  Loop t;
  std::vector<std::string> events;
  Future<int> f = t.loop.create_future<int>();
  f.add_done_callback([](Future<int>) { throw std::runtime_error("cb failed"); });
  f.add_done_callback([&events](Future<int>) { events.push_back("second"); });
  f.set_result(1);
  t.run_passes(1);
  EXPECT_EQ(events, (std::vector<std::string>{"second"}));
  ASSERT_EQ(t.log.calls.size(), 1u);
  EXPECT_EQ(t.log.calls[0].message.rfind("Exception in callback ", 0), 0u) << t.log.calls[0].message;
  EXPECT_EXC(t.log.calls[0].exception, std::runtime_error, "cb failed");
}

// ---------------------------------------------------------------- never retrieved

// test_futures.py::BaseFutureTests::test_tb_logger_exception_unretrieved
TEST(Futures, Cat030_TbLoggerExceptionUnretrieved) {
  Loop t;
  const std::exception_ptr exc = std::make_exception_ptr(RuntimeError("boom"));
  const void* id = nullptr;
  {
    Future<int> f = t.loop.create_future<int>();
    id = f.native();
    f.set_exception(exc);
    EXPECT_TRUE(t.log.calls.empty());
  }
  ASSERT_EQ(t.log.calls.size(), 1u);
  EXPECT_EQ(t.log.calls[0].message, "Future exception was never retrieved");
  EXPECT_TRUE(t.log.calls[0].exception == exc);
  EXPECT_EQ(t.log.calls[0].source, id);
  EXPECT_FALSE(t.log.calls[0].future.empty());
}

// The report comes when the last handle goes, not the first.
TEST(Futures, Cat030_TbLoggerReportsWhenLastHandleDropped) {
  Loop t;
  Future<int> keep;
  {
    Future<int> f = t.loop.create_future<int>();
    f.set_exception(RuntimeError("boom"));
    keep = f;
  }
  EXPECT_TRUE(t.log.calls.empty());
  keep = Future<int>();
  EXPECT_EQ(t.log.messages(), (std::vector<std::string>{"Future exception was never retrieved"}));
}

// test_futures.py::BaseFutureTests::test_tb_logger_exception_retrieved
TEST(Futures, Cat030_TbLoggerExceptionRetrieved) {
  Loop t;
  {
    Future<int> f = t.loop.create_future<int>();
    f.set_exception(RuntimeError("boom"));
    EXPECT_TRUE(f.exception() != nullptr);
  }
  EXPECT_TRUE(t.log.calls.empty());
}

// test_futures.py::BaseFutureTests::test_tb_logger_exception_result_retrieved
TEST(Futures, Cat030_TbLoggerExceptionResultRetrieved) {
  Loop t;
  {
    Future<int> f = t.loop.create_future<int>();
    f.set_exception(RuntimeError("boom"));
    EXPECT_THROW(f.result(), RuntimeError);
  }
  EXPECT_TRUE(t.log.calls.empty());
}

// test_futures.py::BaseFutureTests::test_tb_logger_result_unretrieved
TEST(Futures, Cat030_TbLoggerResultUnretrieved) {
  Loop t;
  {
    Future<int> f = t.loop.create_future<int>();
    f.set_result(42);
  }
  EXPECT_TRUE(t.log.calls.empty());
}

// test_futures.py::BaseFutureTests::test_tb_logger_result_retrieved
TEST(Futures, Cat030_TbLoggerResultRetrieved) {
  Loop t;
  {
    Future<int> f = t.loop.create_future<int>();
    f.set_result(42);
    EXPECT_EQ(f.result(), 42);
  }
  EXPECT_TRUE(t.log.calls.empty());
}

// test_futures.py::BaseFutureTests::test_tb_logger_abandoned
TEST(Futures, Cat030_TbLoggerAbandoned) {
  Loop t;
  { Future<int> f = t.loop.create_future<int>(); }
  EXPECT_TRUE(t.log.calls.empty());
}

// test_futures.py::BaseFutureTests::test_tb_logger_not_called_after_cancel
TEST(Futures, Cat030_TbLoggerNotCalledAfterCancel) {
  Loop t;
  {
    Future<int> f = t.loop.create_future<int>();
    f.set_exception(RuntimeError("boom"));
    EXPECT_FALSE(f.cancel());  // done: no effect on the state...
    EXPECT_FALSE(f.cancelled());
  }
  EXPECT_TRUE(t.log.calls.empty());  // ...but the report is off
}

// Awaiting the failed future retrieves its exception as well.
TEST(Futures, Cat030_TbLoggerExceptionAwaited) {
  Loop t;
  {
    Future<int> f = t.loop.create_future<int>();
    t.loop.call_soon([f] { f.set_exception(RuntimeError("boom")); });
    EXPECT_THROW_MSG(t.loop.run_until_complete([](Future<int> f) -> Coroutine<> {
      co_await f;
      co_return;
    }(f)),
                     RuntimeError, "boom");
  }
  EXPECT_TRUE(t.log.calls.empty());
}

// A default-constructed handle refers to no future: every member raises
// CPython's RuntimeError for a Future whose __init__ did not run, instead
// of dereferencing nothing.
TEST(Futures, EmptyHandlesRaiseInsteadOfCrashing) {
  const std::string msg = "Future object is not initialized.";
  Future<int> f;
  EXPECT_FALSE(f);
  EXPECT_THROW_MSG(f.done(), RuntimeError, msg);
  EXPECT_THROW_MSG(f.cancelled(), RuntimeError, msg);
  EXPECT_THROW_MSG(f.cancel(), RuntimeError, msg);
  EXPECT_THROW_MSG(f.result(), RuntimeError, msg);
  EXPECT_THROW_MSG(f.exception(), RuntimeError, msg);
  EXPECT_THROW_MSG(f.set_result(1), RuntimeError, msg);
  EXPECT_THROW_MSG(f.get_loop(), RuntimeError, msg);
  EXPECT_THROW_MSG(f.add_done_callback([](Future<int>) {}), RuntimeError, msg);
  Task<int> t;
  EXPECT_THROW_MSG(t.done(), RuntimeError, msg);
  EXPECT_THROW_MSG(t.result(), RuntimeError, msg);
  EXPECT_THROW_MSG(t.get_name(), RuntimeError, msg);
  EXPECT_THROW_MSG(t.cancelling(), RuntimeError, msg);
  TaskRef r;
  EXPECT_THROW_MSG(r.repr(), RuntimeError, msg);
  EXPECT_THROW_MSG(r.uncancel(), RuntimeError, msg);
  asyncio_test::TestLoop loop;
  EXPECT_THROW_MSG(loop.loop.run_until_complete(f), RuntimeError, msg);
  auto e = asyncio_test::capture([&] {
    loop.loop.run_until_complete([](Task<int> t) -> Coroutine<> {
      co_await t;
      co_return;
    }(t));
  });
  EXPECT_EXC(e, RuntimeError, msg);
}
