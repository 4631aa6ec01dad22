// Scale and the bounded-stack rule (DESIGN.md decision 6): awaiting
// coroutines must not grow the native stack, whatever the compiler does with
// symmetric transfer, at -O0 and under AddressSanitizer.
//
// The deep-chain tests also run on a thread with a deliberately small stack,
// so that they fail (crash) on any recursion proportional to the depth even
// where `ulimit -s` is large or unlimited.
#include "asyncio_test.hpp"

#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace asyncio;
using asyncio_test::run_test;

namespace {

constexpr int kMillion = 1'000'000;
constexpr int kDepth = 100'000;
constexpr int kTasks = 100'000;
// Chains that unwind with an exception: each level rethrows (as in CPython),
// and a throw costs tens of microseconds under ASan, so these are shallower.
// 40,000 levels still cannot fit a 1 MB stack if each took a native frame.
constexpr int kUnwindDepth = 40'000;

/// Runs `fn` on a new thread whose stack is `bytes` large, and waits.
void on_small_stack(std::function<void()> fn, std::size_t bytes = std::size_t{1} << 20) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, bytes), 0);
  pthread_t th;
  auto entry = [](void* p) -> void* {
    (*static_cast<std::function<void()>*>(p))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&th, &attr, entry, &fn), 0);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(pthread_join(th, nullptr), 0);
}

long long triangle(long long n) { return n * (n + 1) / 2; }

// ---- 1,000,000 awaits of coroutines that finish at once ----------------------

Coroutine<int> immediate(int i) { co_return i; }

Coroutine<> immediate_void(long long* acc, int i) {
  *acc += i;
  co_return;
}

Coroutine<long long> await_many(int n, bool* pass_ran) {
  long long sum = 0;
  for (int i = 1; i <= n; ++i) sum += co_await immediate(i);
  // S4: not one of those awaits went through the loop.
  EXPECT_FALSE(*pass_ran);
  co_return sum;
}

Coroutine<long long> await_many_void(int n) {
  long long acc = 0;
  for (int i = 1; i <= n; ++i) co_await immediate_void(&acc, i);
  co_return acc;
}

Coroutine<long long> await_many_lvalue(int n) {
  long long sum = 0;
  for (int i = 1; i <= n; ++i) {
    Coroutine<int> c = immediate(i);
    sum += co_await c;
  }
  co_return sum;
}

Coroutine<long long> main_await_many(int n) {
  bool pass_ran = false;
  get_running_loop().call_soon([&pass_ran] { pass_ran = true; });
  long long sum = co_await await_many(n, &pass_ran);
  co_await asyncio::sleep(0);
  EXPECT_TRUE(pass_ran);
  co_return sum;
}

}  // namespace

TEST(Stress, MillionAwaitsOfImmediateCoroutines) {
  EXPECT_EQ(run_test(main_await_many(kMillion)), triangle(kMillion));
}

TEST(Stress, MillionAwaitsOfImmediateVoidCoroutines) {
  EXPECT_EQ(run_test(await_many_void(kMillion)), triangle(kMillion));
}

TEST(Stress, MillionAwaitsOfLvalueCoroutines) {
  EXPECT_EQ(run_test(await_many_lvalue(kMillion)), triangle(kMillion));
}

TEST(Stress, MillionAwaitsOnSmallStack) {
  long long got = 0;
  on_small_stack([&] { got = run_test(await_many_void(kMillion)); });
  EXPECT_EQ(got, triangle(kMillion));
}

// ---- a 100,000-deep chain of nested awaits -------------------------------------

namespace {

/// f(n) awaits f(n-1); the bottom returns at once or yields first.
Coroutine<long long> chain(int n, bool suspend_at_bottom) {
  if (n == 0) {
    if (suspend_at_bottom) co_await asyncio::sleep(0);
    co_return 0;
  }
  long long below = co_await chain(n - 1, suspend_at_bottom);
  co_return below + n;
}

/// Counts the frames that an exception unwinds.
struct CountOnUnwind {
  int* unwound;
  int on_entry = std::uncaught_exceptions();
  ~CountOnUnwind() {
    if (std::uncaught_exceptions() > on_entry) ++*unwound;
  }
};

/// The bottom throws; every level passes the exception up.
Coroutine<long long> throwing_chain(int n, int* unwound) {
  if (n == 0) {
    co_await asyncio::sleep(0);
    throw std::out_of_range("bottom");
  }
  CountOnUnwind guard{unwound};
  co_return co_await throwing_chain(n - 1, unwound) + 1;
}

/// The bottom sleeps "forever", to be cancelled.
Coroutine<int> sleeping_chain(int n, bool* reached) {
  if (n == 0) {
    *reached = true;
    co_await asyncio::sleep(3600);
    co_return 0;
  }
  co_return co_await sleeping_chain(n - 1, reached) + 1;
}

Coroutine<long long> main_chain_with_neighbour(int depth) {
  // Another task runs while the deep chain is suspended at its bottom.
  bool neighbour_ran = false;
  get_running_loop().call_soon([&neighbour_ran] { neighbour_ran = true; });
  long long v = co_await chain(depth, true);
  EXPECT_TRUE(neighbour_ran);
  co_return v;
}

Coroutine<int> main_throwing_chain(int depth) {
  int unwound = 0;
  bool caught = false;
  try {
    (void)co_await throwing_chain(depth, &unwound);
  } catch (const std::out_of_range& e) {
    caught = std::string(e.what()) == "bottom";
  }
  EXPECT_TRUE(caught);
  co_return unwound;
}

Coroutine<int> main_cancel_chain(int depth) {
  bool reached = false;
  Task<int> t = create_task(sleeping_chain(depth, &reached));
  while (!reached) co_await asyncio::sleep(0);
  EXPECT_TRUE(t.cancel());
  int outcome = 0;
  try {
    (void)co_await t;
  } catch (const CancelledError&) {
    outcome = 1;
  }
  EXPECT_TRUE(t.cancelled());
  co_return outcome;
}

}  // namespace

TEST(Stress, DeepChainNoSuspension) {
  EXPECT_EQ(run_test(chain(kDepth, false)), triangle(kDepth));
}

TEST(Stress, DeepChainSuspendsAtBottom) {
  EXPECT_EQ(run_test(main_chain_with_neighbour(kDepth)), triangle(kDepth));
}

TEST(Stress, DeepChainNoSuspensionOnSmallStack) {
  long long got = 0;
  on_small_stack([&] { got = run_test(chain(kDepth, false)); });
  EXPECT_EQ(got, triangle(kDepth));
}

TEST(Stress, DeepChainSuspendsAtBottomOnSmallStack) {
  long long got = 0;
  on_small_stack([&] { got = run_test(chain(kDepth, true)); });
  EXPECT_EQ(got, triangle(kDepth));
}

TEST(Stress, DeepChainExceptionPropagates) {
  int unwound = -1;
  on_small_stack([&] { unwound = run_test(main_throwing_chain(kUnwindDepth)); });
  EXPECT_EQ(unwound, kUnwindDepth);
}

TEST(Stress, DeepChainCancelled) {
  int outcome = -1;
  on_small_stack([&] { outcome = run_test(main_cancel_chain(kUnwindDepth)); });
  EXPECT_EQ(outcome, 1);
}

TEST(Stress, DeepChainAsTaskAwaitedByTasks) {
  // The chain runs as a task that several other tasks await.
  long long got = run_test([]() -> Coroutine<long long> {
    Task<long long> t = create_task(chain(kDepth, true));
    auto waiter = [](Task<long long> t) -> Coroutine<long long> { co_return co_await t; };
    auto [a, b, c] = co_await gather(waiter(t), waiter(t), waiter(t));
    EXPECT_EQ(a, b);
    EXPECT_EQ(b, c);
    co_return a;
  }());
  EXPECT_EQ(got, triangle(kDepth));
}

namespace {

/// Closes a virtual-time loop while a task is suspended at the bottom of a
/// `depth`-deep chain: the loop reports the task and frees every frame.
void close_with_pending_chain(int depth, std::vector<std::string>* messages, bool* reached) {
  asyncio_test::TestLoop t;
  {
    Task<int> task = t.loop.create_task(sleeping_chain(depth, reached));
    t.loop.run_until_complete(asyncio::sleep(1));
    EXPECT_FALSE(task.done());
  }
  t.loop.close();
  *messages = t.log.messages();
}

}  // namespace

TEST(Stress, PendingChainAtCloseIsReportedAndFreed) {
  std::vector<std::string> messages;
  bool reached = false;
  on_small_stack([&] { close_with_pending_chain(1000, &messages, &reached); });
  EXPECT_TRUE(reached);
  EXPECT_EQ(messages, std::vector<std::string>{"Task was destroyed but it is pending!"});
}

// Destroying a pending chain must not recurse either. (At 2f270d4 close()
// destroyed the frames recursively, each frame's destructor destroying the
// Coroutine it awaited: 100,000 levels overflowed even the 8 MB main stack.)
TEST(Stress, DeepPendingChainAtCloseIsFreedWithoutOverflow) {
  std::vector<std::string> messages;
  bool reached = false;
  on_small_stack([&] { close_with_pending_chain(kDepth, &messages, &reached); });
  EXPECT_TRUE(reached);
  EXPECT_EQ(messages, std::vector<std::string>{"Task was destroyed but it is pending!"});
}

// ---- 100,000 concurrent tasks -------------------------------------------------

namespace {

Coroutine<long long> yield_then_return(int i) {
  co_await asyncio::sleep(0);
  co_return i;
}

Coroutine<long long> main_gather_coroutines(int n) {
  std::vector<Coroutine<long long>> cs;
  cs.reserve(n);
  for (int i = 0; i < n; ++i) cs.push_back(yield_then_return(i));
  std::vector<long long> rs = co_await gather(std::move(cs));
  EXPECT_EQ(rs.size(), static_cast<std::size_t>(n));
  long long sum = 0;
  bool in_order = true;
  for (int i = 0; i < static_cast<int>(rs.size()); ++i) {
    in_order = in_order && rs[i] == i;
    sum += rs[i];
  }
  EXPECT_TRUE(in_order);
  co_return sum;
}

Coroutine<long long> main_gather_tasks(int n) {
  std::vector<Task<long long>> ts;
  ts.reserve(n);
  for (int i = 0; i < n; ++i) ts.push_back(create_task(yield_then_return(i)));
  std::vector<long long> rs = co_await gather(ts);
  long long sum = 0;
  for (long long r : rs) sum += r;
  // Every task is done and still gives its result.
  long long again = 0;
  for (const auto& t : ts) again += t.result();
  EXPECT_EQ(again, sum);
  co_return sum;
}

Coroutine<> bump(std::size_t* counter) {
  co_await asyncio::sleep(0);
  ++*counter;
  co_return;
}

Coroutine<std::size_t> main_dropped_handles(int n) {
  std::size_t counter = 0;
  for (int i = 0; i < n; ++i) (void)create_task(bump(&counter));
  EXPECT_EQ(all_tasks().size(), static_cast<std::size_t>(n) + 1);  // the loop holds them
  EXPECT_EQ(counter, 0u);  // none has started yet (S3)
  for (int i = 0; i < 10 && counter < static_cast<std::size_t>(n); ++i) co_await asyncio::sleep(0);
  EXPECT_EQ(all_tasks().size(), 1u);  // only this one is left
  co_return counter;
}

}  // namespace

TEST(Stress, GatherHundredThousandTasksSleepingZero) {
  EXPECT_EQ(run_test(main_gather_coroutines(kTasks)), triangle(kTasks - 1));
}

TEST(Stress, GatherHundredThousandTaskHandles) {
  EXPECT_EQ(run_test(main_gather_tasks(kTasks)), triangle(kTasks - 1));
}

TEST(Stress, HundredThousandDroppedTasksAllRun) {
  EXPECT_EQ(run_test(main_dropped_handles(kTasks)), static_cast<std::size_t>(kTasks));
}

// ---- move-only results -----------------------------------------------------------

namespace {

Coroutine<std::unique_ptr<int>> make_ptr(int i) {
  co_await asyncio::sleep(0);
  co_return std::make_unique<int>(i);
}

Coroutine<std::unique_ptr<int>> make_ptr_now(int i) { co_return std::make_unique<int>(i); }

Coroutine<long long> main_move_only_tasks(int n) {
  std::vector<Task<std::unique_ptr<int>>> ts;
  ts.reserve(n);
  for (int i = 0; i < n; ++i) ts.push_back(create_task(make_ptr(i)));
  long long sum = 0;
  for (auto& t : ts) {
    std::unique_ptr<int>& r = co_await t;  // a reference to the stored value
    EXPECT_EQ(&r, &t.result());            // the same object every time
    std::unique_ptr<int> mine = std::move(t.result());
    if (mine) sum += *mine;
  }
  co_return sum;
}

Coroutine<long long> main_move_only_gather(int n) {
  std::vector<Coroutine<std::unique_ptr<int>>> cs;
  cs.reserve(n);
  for (int i = 0; i < n; ++i) cs.push_back(i % 2 ? make_ptr(i) : make_ptr_now(i));
  std::vector<std::unique_ptr<int>> rs = co_await gather(std::move(cs));
  long long sum = 0;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (!rs[i] || *rs[i] != static_cast<int>(i)) {
      ADD_FAILURE() << "result " << i;
      co_return -1;
    }
    sum += *rs[i];
  }
  co_return sum;
}

Coroutine<int> main_move_only_gather_tuple() {
  // co_await on the gather future gives a reference to its stored tuple:
  // move-only results are moved out of it.
  auto [a, b, c] = co_await gather(make_ptr(1), make_ptr_now(2), asyncio::sleep(0.5, std::make_unique<int>(3)));
  static_assert(std::is_same_v<decltype(a), std::unique_ptr<int>>);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(b, nullptr);
  EXPECT_NE(c, nullptr);
  co_return (a ? *a : 0) * 100 + (b ? *b : 0) * 10 + (c ? *c : 0);
}

Coroutine<long long> main_move_only_gather_outcomes(int n) {
  std::vector<Coroutine<std::unique_ptr<int>>> cs;
  for (int i = 0; i < n; ++i) cs.push_back(make_ptr(i));
  auto outs = co_await gather(return_exceptions, std::move(cs));
  long long sum = 0;
  for (auto& o : outs) {
    EXPECT_TRUE(o.has_value());
    if (o.has_value()) sum += *o.value();
  }
  co_return sum;
}

}  // namespace

TEST(Stress, MoveOnlyResultsThroughTasks) {
  EXPECT_EQ(run_test(main_move_only_tasks(kTasks)), triangle(kTasks - 1));
}

TEST(Stress, MoveOnlyResultsThroughGather) {
  EXPECT_EQ(run_test(main_move_only_gather(kTasks)), triangle(kTasks - 1));
}

TEST(Stress, MoveOnlyResultsThroughGatherTuple) { EXPECT_EQ(run_test(main_move_only_gather_tuple()), 123); }

TEST(Stress, MoveOnlyResultsThroughGatherOutcomes) {
  EXPECT_EQ(run_test(main_move_only_gather_outcomes(10'000)), triangle(10'000 - 1));
}
