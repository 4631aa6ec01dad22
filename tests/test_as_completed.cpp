// Tests for include/asyncio/as_completed.hpp (≙ the as_completed tests of
// Lib/test/test_asyncio/test_tasks.py, CPython v3.13.0; catalogue §14 C,
// entries 110-116). Virtual time, as CPython's TestLoop.
#include <asyncio/as_completed.hpp>  // first: proves the header is self-contained

#include "asyncio_test.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::run_test;
using asyncio_test::TestLoop;

namespace {

Coroutine<std::string> sleeper(double dt, std::string x) {
  co_await asyncio::sleep(dt);
  co_return x;
}

Coroutine<int> value(int i) { co_return i; }

double now() { return get_running_loop().time(); }

std::vector<Coroutine<std::string>> abc() {
  std::vector<Coroutine<std::string>> v;
  v.push_back(sleeper(0.01, "b"));
  v.push_back(sleeper(0.15, "c"));
  v.push_back(sleeper(0.01, "a"));
  return v;
}

}  // namespace

// A single awaitable instead of a range does not compile (Python's
// TypeError "expects an iterable of awaitables, not Future").
template <class A>
concept AsCompletable = requires(A a) { as_completed(std::move(a)); };
static_assert(!AsCompletable<Future<int>>);
static_assert(!AsCompletable<Coroutine<int>>);
static_assert(AsCompletable<std::vector<Future<int>>>);

// ---------------------------------------------------------------------------
// 110. test_as_completed (TestLoop): plain iteration and `async for`.

namespace {
Coroutine<std::vector<std::string>> plain_for() {
  std::vector<std::string> values;
  for (auto f : as_completed(abc())) values.push_back(co_await f);
  co_return values;
}
Coroutine<std::vector<std::string>> async_for() {
  std::vector<std::string> values;
  auto it = as_completed(abc());
  while (auto t = co_await it.next()) values.push_back(t->result());
  co_return values;
}
}  // namespace

TEST(AsCompleted, Cat110_AsCompleted) {
  for (bool use_async_for : {false, true}) {
    TestLoop t;
    auto res = t.loop.run_until_complete(use_async_for ? async_for() : plain_for());
    EXPECT_NEAR(t.loop.time(), 0.15, 1e-9);
    ASSERT_EQ(res.size(), 3u);
    EXPECT_TRUE(std::count(res.begin(), res.begin() + 2, "a") == 1);
    EXPECT_TRUE(std::count(res.begin(), res.begin() + 2, "b") == 1);
    EXPECT_EQ(res[2], "c");
    // Doing it again takes 0.15 s more (new coroutines).
    t.loop.run_until_complete(use_async_for ? async_for() : plain_for());
    EXPECT_NEAR(t.loop.time(), 0.30, 1e-9);
  }
}

// ---------------------------------------------------------------------------
// test_as_completed_with_timeout: what is not done by then gives
// TimeoutError; nothing is cancelled.

namespace {
Coroutine<> with_timeout(Task<std::string> a, Task<std::string> b) {
  std::vector<std::string> values;
  std::vector<Task<std::string>> fs{a, b};
  for (auto f : as_completed(fs, 0.12)) {
    try {
      values.push_back(co_await f);
    } catch (const TimeoutError&) {
      values.push_back("TimeoutError");
    }
  }
  EXPECT_EQ(values, (std::vector<std::string>{"a", "TimeoutError"}));
  EXPECT_NEAR(now(), 0.12, 1e-9);
  EXPECT_FALSE(b.done());

  // `async for` raises TimeoutError.
  std::vector<Task<std::string>> gs{create_task(sleeper(0.1, "c")), create_task(sleeper(10, "d"))};
  auto it = as_completed(gs, std::chrono::milliseconds(110));
  auto first = co_await it.next();
  EXPECT_EQ(first->result(), "c");
  bool timed_out = false;
  try {
    co_await it.next();
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_FALSE(co_await it.next());  // exhausted
  EXPECT_FALSE(gs[1].cancelled());
  gs[1].cancel();
  co_await asyncio::wait(gs);
  co_await b;
}
}  // namespace

TEST(AsCompleted, AsCompletedWithTimeout) {
  TestLoop t;
  auto a = t.loop.create_task(sleeper(0.1, "a"));
  auto b = t.loop.create_task(sleeper(0.15, "b"));
  t.loop.run_until_complete(with_timeout(a, b));
}

// test_as_completed_with_unused_timeout
TEST(AsCompleted, AsCompletedWithUnusedTimeout) {
  auto r = run_test([]() -> Coroutine<std::string> {
    std::vector<Coroutine<std::string>> v;
    v.push_back(sleeper(0.01, "a"));
    std::string out;
    for (auto f : as_completed(std::move(v), 1)) out = co_await f;
    co_return out;
  }());
  EXPECT_EQ(r, "a");
}

// ---------------------------------------------------------------------------
// 112. test_as_completed_reverse_wait: the k-th coroutine awaited gives the
// k-th completion, whichever it is.

TEST(AsCompleted, Cat112_AsCompletedReverseWait) {
  TestLoop t;
  std::vector<Coroutine<std::string>> futs;
  t.loop.call_soon([&] {
    std::vector<Coroutine<std::string>> fs;
    fs.push_back(sleeper(0.05, "a"));
    fs.push_back(sleeper(0.10, "b"));
    auto it = as_completed(std::move(fs));
    futs.assign(it.begin(), it.end());  // ≙ list(as_completed(fs))
  });
  t.run_briefly();
  ASSERT_EQ(futs.size(), 2u);
  EXPECT_EQ(t.loop.run_until_complete(std::move(futs[1])), "a");
  EXPECT_NEAR(t.loop.time(), 0.05, 1e-9);
  EXPECT_EQ(t.loop.run_until_complete(std::move(futs[0])), "b");
  EXPECT_NEAR(t.loop.time(), 0.10, 1e-9);
}

// ---------------------------------------------------------------------------
// 113. test_as_completed_concurrent: the coroutines can be awaited
// concurrently (as tasks, waited together).

namespace {
Coroutine<std::set<std::string>> concurrent() {
  std::vector<Coroutine<std::string>> fs;
  fs.push_back(sleeper(0.05, "a"));
  fs.push_back(sleeper(0.05, "b"));
  auto it = as_completed(std::move(fs));
  std::vector<Task<std::string>> tasks;
  for (auto f : it) tasks.push_back(create_task(std::move(f)));
  EXPECT_EQ(tasks.size(), 2u);
  auto [done, pending] = co_await asyncio::wait(tasks);
  std::set<std::string> out;
  for (auto& f : done) out.insert(f.result());
  co_return out;
}
}  // namespace

TEST(AsCompleted, Cat113_AsCompletedConcurrent) {
  EXPECT_EQ(run_test(concurrent()), (std::set<std::string>{"a", "b"}));
}

// ---------------------------------------------------------------------------
// 114. test_as_completed_duplicate_coroutines: duplicates count once. C++
// coroutines are move-only, so the duplicate is a task.

namespace {
Coroutine<std::vector<std::string>> duplicates() {
  Task<std::string> c = create_task(sleeper(0, "ham"));
  std::vector<Task<std::string>> fs{c, c, create_task(sleeper(0, "spam"))};
  std::vector<std::string> result;
  for (auto f : as_completed(fs)) result.push_back(co_await f);
  co_return result;
}
}  // namespace

TEST(AsCompleted, Cat114_AsCompletedDuplicates) {
  auto result = run_test(duplicates());
  EXPECT_EQ(result.size(), 2u);
  EXPECT_EQ(std::set<std::string>(result.begin(), result.end()), (std::set<std::string>{"ham", "spam"}));
}

// ---------------------------------------------------------------------------
// 115. test_as_completed_same_tasks_in_as_out (3.13): `async for` gives the
// tasks passed in, and new tasks for coroutines.

namespace {
Coroutine<> same_tasks() {
  std::vector<Task<int>> in;
  for (int i = 0; i < 4; ++i) in.push_back(create_task(value(i)));
  std::set<const void*> out;
  auto it = as_completed(in);
  while (auto t = co_await it.next()) out.insert(t->native());
  std::set<const void*> expected;
  for (auto& t : in) expected.insert(t.native());
  EXPECT_EQ(out, expected);

  std::vector<Coroutine<int>> coros;
  for (int i = 0; i < 4; ++i) coros.push_back(value(i));
  auto it2 = as_completed(std::move(coros));
  std::set<int> results;
  while (auto t = co_await it2.next()) results.insert(t->result());  // Task<int>
  EXPECT_EQ(results, (std::set<int>{0, 1, 2, 3}));
}
}  // namespace

TEST(AsCompleted, Cat115_AsCompletedSameTasksInAsOut) { run_test(same_tasks()); }

// ---------------------------------------------------------------------------
// 116. test_as_completed_resume_iterator: break, then iterate again.

namespace {
Coroutine<std::vector<int>> try_iterator(bool use_async_for) {
  std::vector<Coroutine<int>> coros;
  for (int i = 0; i < 4; ++i) coros.push_back(value(i));
  auto iterator = as_completed(std::move(coros));
  std::vector<int> collected;
  if (!use_async_for) {
    int iterations = 0;
    for (auto f : iterator) {
      collected.push_back(co_await f);
      if (++iterations == 2) break;
    }
    EXPECT_EQ(collected.size(), 2u);
    EXPECT_EQ(iterator.size(), 2u);
    for (auto f : iterator) collected.push_back(co_await f);
  } else {
    for (int i = 0; i < 2; ++i) collected.push_back((*co_await iterator.next()).result());
    while (auto t = co_await iterator.next()) collected.push_back(t->result());
  }
  co_return collected;
}
}  // namespace

TEST(AsCompleted, Cat116_AsCompletedResumeIterator) {
  for (bool use_async_for : {false, true}) {
    auto results = run_test(try_iterator(use_async_for));
    std::sort(results.begin(), results.end());
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3}));
  }
}

// An exception goes to whoever awaits that completion; cancelling one
// awaiting coroutine passes its completion on to the next.
namespace {
Coroutine<int> fails_after(double d) {
  co_await asyncio::sleep(d);
  throw std::invalid_argument("boom");
}
Coroutine<> errors_and_cancellation() {
  std::vector<Coroutine<int>> fs;
  fs.push_back(fails_after(0.01));
  fs.push_back([]() -> Coroutine<int> {
    co_await asyncio::sleep(0.02);
    co_return 2;
  }());
  auto it = as_completed(std::move(fs));
  std::vector<Coroutine<int>> next(it.begin(), it.end());
  bool failed = false;
  try {
    co_await next[0];
  } catch (const std::invalid_argument&) {
    failed = true;
  }
  EXPECT_TRUE(failed);
  Task<int> waiter = create_task(std::move(next[1]));
  co_await asyncio::sleep(0);
  waiter.cancel();
  std::vector<Task<int>> ws{waiter};  // GCC 12: no initializer_list inside co_await
  auto [d, p] = co_await asyncio::wait(ws);
  EXPECT_TRUE(waiter.cancelled());
  EXPECT_NEAR(now(), 0.01, 1e-9);
  co_await asyncio::sleep(0.05);  // the 2nd completion arrives with nobody waiting
}
}  // namespace

TEST(AsCompleted, ErrorsAndCancellation) { run_test(errors_and_cancellation()); }
