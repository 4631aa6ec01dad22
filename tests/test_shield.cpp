// Tests for include/asyncio/shield.hpp (≙ the shield tests of
// Lib/test/test_asyncio/test_tasks.py, CPython v3.13.0; catalogue §14 C,
// entries 118-125). wait_for(shield(...)) is in test_wait.cpp (84, 85).
#include <asyncio/shield.hpp>  // first: proves the header is self-contained

#include "asyncio_test.hpp"

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::run_test;
using asyncio_test::TestLoop;
using asyncio_test::what;

// ---------------------------------------------------------------------------
// 118. test_shield_result

TEST(Shield, Cat118_ShieldResult) {
  TestLoop t;
  Future<int> inner = t.loop.create_future<int>();
  Future<int> outer = shield(inner);
  inner.set_result(42);
  EXPECT_EQ(t.loop.run_until_complete(outer), 42);
}

// ---------------------------------------------------------------------------
// 119. test_shield_exception: the same exception object.

TEST(Shield, Cat119_ShieldException) {
  TestLoop t;
  Future<int> inner = t.loop.create_future<int>();
  Future<int> outer = shield(inner);
  t.run_briefly();
  const auto exc = std::make_exception_ptr(std::runtime_error("expected"));
  inner.set_exception(exc);
  t.run_briefly();
  EXPECT_EQ(outer.exception(), exc);
  EXPECT_TRUE(t.log.calls.empty());  // inner's exception was retrieved by the shield
}

// ---------------------------------------------------------------------------
// 120. test_shield_cancel_inner

TEST(Shield, Cat120_ShieldCancelInner) {
  TestLoop t;
  Future<int> inner = t.loop.create_future<int>();
  Future<int> outer = shield(inner);
  t.run_briefly();
  inner.cancel();
  t.run_briefly();
  EXPECT_TRUE(outer.cancelled());
}

// ---------------------------------------------------------------------------
// 121. test_shield_cancel_outer: the inner future is untouched. (The check
// on the outer's private _callbacks has no counterpart.)

TEST(Shield, Cat121_ShieldCancelOuter) {
  TestLoop t;
  Future<int> inner = t.loop.create_future<int>();
  Future<int> outer = shield(inner);
  t.run_briefly();
  EXPECT_TRUE(outer.cancel());
  t.run_briefly();
  EXPECT_TRUE(outer.cancelled());
  EXPECT_FALSE(inner.done());
  // The outer let go of the inner: completing it changes nothing.
  inner.set_result(1);
  t.run_briefly();
  EXPECT_TRUE(outer.cancelled());
}

// Between outer.cancel() and the outer's done-callbacks, an inner failure
// is marked retrieved by the shield (CPython's _inner_done_callback).
TEST(Shield, CancelOuterThenInnerFailsSamePass) {
  TestLoop t;
  Future<int> inner = t.loop.create_future<int>();
  Future<int> outer = shield(inner);
  outer.cancel();
  inner.set_exception(std::make_exception_ptr(std::runtime_error("late")));
  t.run_briefly();
  EXPECT_TRUE(outer.cancelled());
  inner = Future<int>();
  t.run_briefly();
  EXPECT_TRUE(t.log.calls.empty());
}

// ---------------------------------------------------------------------------
// test_shield_shortcut: a future already done is returned as it is.

TEST(Shield, ShieldShortcut) {
  TestLoop t;
  Future<int> fut = t.loop.create_future<int>();
  fut.set_result(42);
  Future<int> s = shield(fut);
  EXPECT_TRUE(s == fut);
  EXPECT_EQ(t.loop.run_until_complete(s), 42);

  // A done task gives a done future with its outcome.
  Task<int> task = t.loop.create_task([]() -> Coroutine<int> { co_return 7; }());
  t.loop.run_until_complete(task);
  Future<int> st = shield(task);
  EXPECT_TRUE(st.done());
  EXPECT_EQ(st.result(), 7);
  Task<int> failed = t.loop.create_task([]() -> Coroutine<int> {
    throw std::invalid_argument("bad");
    co_return 0;
  }());
  EXPECT_THROW(t.loop.run_until_complete(failed), std::invalid_argument);
  Future<int> sf = shield(failed);
  EXPECT_EQ(sf.exception(), failed.exception());
  Task<int> cancelled = t.loop.create_task([]() -> Coroutine<int> { co_return 0; }());
  cancelled.cancel("m");
  EXPECT_THROW(t.loop.run_until_complete(cancelled), CancelledError);
  Future<int> sc = shield(cancelled);
  EXPECT_TRUE(sc.cancelled());
  EXPECT_EXC(asyncio_test::capture([&] { sc.result(); }), CancelledError, "m");
}

// ---------------------------------------------------------------------------
// test_shield_effect: cancelling the task awaiting shield(inner()) does not
// affect inner().

namespace {
Coroutine<> inner_effect(Future<> waiter, int* proof) {
  co_await waiter;
  *proof += 1;
}
Coroutine<> outer_effect(Future<> waiter, int* proof) {
  co_await shield(inner_effect(waiter, proof));
  *proof += 100;
}
}  // namespace

TEST(Shield, ShieldEffect) {
  TestLoop t;
  int proof = 0;
  Future<> waiter = t.loop.create_future();
  Task<> f = t.loop.create_task(outer_effect(waiter, &proof));
  t.run_briefly();
  f.cancel();
  EXPECT_THROW(t.loop.run_until_complete(f), CancelledError);
  waiter.set_result();
  t.run_briefly();
  EXPECT_EQ(proof, 1);
}

// ---------------------------------------------------------------------------
// 124. test_shield_gather

TEST(Shield, Cat124_ShieldGather) {
  TestLoop t;
  Future<int> child1 = t.loop.create_future<int>();
  Future<int> child2 = t.loop.create_future<int>();
  Future<std::tuple<int, int>> parent;
  t.loop.call_soon([&] { parent = gather(child1, child2); });
  t.run_briefly();
  Future<std::tuple<int, int>> outer = shield(parent);
  t.run_briefly();
  outer.cancel();
  t.run_briefly();
  EXPECT_TRUE(outer.cancelled());
  child1.set_result(1);
  child2.set_result(2);
  t.run_briefly();
  EXPECT_EQ(parent.result(), std::make_tuple(1, 2));
}

// ---------------------------------------------------------------------------
// 125. test_gather_shield

TEST(Shield, Cat125_GatherShield) {
  TestLoop t;
  Future<int> child1 = t.loop.create_future<int>();
  Future<int> child2 = t.loop.create_future<int>();
  Future<int> inner1 = shield(child1);
  Future<int> inner2 = shield(child2);
  Future<std::tuple<int, int>> parent;
  t.loop.call_soon([&] { parent = gather(inner1, inner2); });
  t.run_briefly();
  parent.cancel();
  // This should cancel inner1 and inner2 but not child1 and child2.
  t.run_briefly();
  EXPECT_TRUE(holds<CancelledError>(parent.exception()));
  EXPECT_TRUE(inner1.cancelled());
  EXPECT_TRUE(inner2.cancelled());
  child1.set_result(1);
  child2.set_result(2);
  t.run_briefly();
  EXPECT_FALSE(child1.cancelled());
  EXPECT_FALSE(child2.cancelled());
}

// A shared task's result is copied to the outer future: a move-only one
// cannot be (a coroutine's own task can: it is moved).
template <class A>
concept Shieldable = requires(A a) { shield(std::move(a)); };
static_assert(!Shieldable<Task<std::unique_ptr<int>>>);
static_assert(Shieldable<Coroutine<std::unique_ptr<int>>>);
static_assert(Shieldable<Task<int>> && Shieldable<Future<>>);

// The task awaiting a shield is cancelled with CancelledError; the shielded
// task completes, and a move-only result made from a coroutine is moved.
namespace {
Coroutine<std::unique_ptr<int>> make_box(double d) {
  co_await asyncio::sleep(d);
  co_return std::make_unique<int>(5);
}
Coroutine<int> make_int(double d) {
  co_await asyncio::sleep(d);
  co_return 5;
}
Coroutine<> shield_move_only() {
  std::unique_ptr<int> box = co_await shield(make_box(0.1));
  EXPECT_EQ(*box, 5);
  Task<int> t = create_task(make_int(0.1));
  Task<> waiting = create_task([](Task<int> t) -> Coroutine<> {
    co_await shield(t);
    ADD_FAILURE() << "not cancelled";
  }(t));
  co_await asyncio::sleep(0.05);
  waiting.cancel();
  try {
    co_await waiting;
  } catch (const CancelledError&) {
  }
  EXPECT_TRUE(waiting.cancelled());
  EXPECT_FALSE(t.done());
  EXPECT_EQ(co_await t, 5);
}
}  // namespace

TEST(Shield, CancelAwaitingTaskAndMoveOnlyResult) { run_test(shield_move_only()); }
