// asyncio-cpp: SPDX-License-Identifier: MIT
// Tests for include/asyncio/staggered.hpp
// (≙ Lib/test/test_asyncio/test_staggered.py, with the cases CPython added
// after 3.13.0: test_multiple_winners, test_cancelled, and
// test_eager_task_factory's test_staggered_race_with_eager_tasks).
#include <asyncio/staggered.hpp>

#include <asyncio/asyncio.hpp>

#include "asyncio_test.hpp"

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using asyncio::CancelledError;
using asyncio::Coroutine;
using asyncio::staggered_race;
using asyncio_test::holds;
using asyncio_test::run_test;
using asyncio_test::TestLoop;

namespace {

using Fns = std::vector<std::function<Coroutine<std::string>()>>;

Coroutine<std::string> res(int index) { co_return "Res: " + std::to_string(index); }

Coroutine<std::string> fails_first(int index) {
  if (index == 0) throw std::invalid_argument(std::to_string(index));
  co_return "Res: " + std::to_string(index);
}

Coroutine<std::string> first_sleeps(int index) {
  if (index == 0) co_await asyncio::sleep(10);  // much bigger than delay
  co_return "Res: " + std::to_string(index);
}

Coroutine<std::string> always_fails(int index) {
  throw std::invalid_argument(std::to_string(index));
  co_return "";
}

}  // namespace

TEST(Staggered, test_empty) {
  run_test([]() -> Coroutine<> {
    auto [winner, index, excs] = co_await staggered_race(Fns{}, std::nullopt);
    EXPECT_FALSE(winner.has_value());
    EXPECT_FALSE(index.has_value());
    EXPECT_TRUE(excs.empty());
  }());
}

TEST(Staggered, test_one_successful) {
  run_test([]() -> Coroutine<> {
    Fns fns{[] { return res(0); }, [] { return res(1); }};
    auto [winner, index, excs] = co_await staggered_race(std::move(fns), std::nullopt);
    EXPECT_EQ(winner, "Res: 0");
    EXPECT_EQ(index, 0u);
    CO_ASSERT_EQ(excs.size(), 1u);
    EXPECT_EQ(excs[0], nullptr);
  }());
}

TEST(Staggered, test_first_error_second_successful) {
  run_test([]() -> Coroutine<> {
    Fns fns{[] { return fails_first(0); }, [] { return fails_first(1); }};
    auto [winner, index, excs] = co_await staggered_race(std::move(fns), std::nullopt);
    EXPECT_EQ(winner, "Res: 1");
    EXPECT_EQ(index, 1u);
    CO_ASSERT_EQ(excs.size(), 2u);
    EXPECT_TRUE(holds<std::invalid_argument>(excs[0]));
    EXPECT_EQ(excs[1], nullptr);
  }());
}

TEST(Staggered, test_first_timeout_second_successful) {
  TestLoop t;
  auto body = []() -> Coroutine<> {
    Fns fns{[] { return first_sleeps(0); }, [] { return first_sleeps(1); }};
    auto [winner, index, excs] = co_await staggered_race(std::move(fns), 0.1);
    EXPECT_EQ(winner, "Res: 1");
    EXPECT_EQ(index, 1u);
    CO_ASSERT_EQ(excs.size(), 2u);
    // The loser was cancelled by the winner, and had finished by then.
    EXPECT_TRUE(holds<CancelledError>(excs[0]));
    EXPECT_EQ(excs[1], nullptr);
  };
  t.loop.run_until_complete(body());
  // The second started after the delay, not after the first's 10 s.
  EXPECT_NEAR(t.loop.time(), 0.1, 1e-9);
  EXPECT_TRUE(asyncio::all_tasks(t.loop).empty());
  EXPECT_TRUE(t.log.calls.empty());
}

TEST(Staggered, test_none_successful) {
  run_test([]() -> Coroutine<> {
    Fns fns{[] { return always_fails(0); }, [] { return always_fails(1); }};
    auto [winner, index, excs] = co_await staggered_race(std::move(fns), std::nullopt);
    EXPECT_FALSE(winner.has_value());
    EXPECT_FALSE(index.has_value());
    CO_ASSERT_EQ(excs.size(), 2u);
    EXPECT_TRUE(holds<std::invalid_argument>(excs[0]));
    EXPECT_TRUE(holds<std::invalid_argument>(excs[1]));
    EXPECT_EQ(asyncio_test::what(excs[1]), "1");
  }());
}

namespace {

Coroutine<int> wait_event(asyncio::Event& event, int index) {
  co_await event.wait();
  co_return index;
}

Coroutine<int> set_then_block(asyncio::Event& event) {
  event.set();
  asyncio::Event never;
  co_await never.wait();
  co_return -1;
}

}  // namespace

// Two coroutines are woken in the same pass: the first to run wins, the
// other is cancelled although its wait was over (CPython gh-124309's test).
TEST(Staggered, test_multiple_winners) {
  run_test([]() -> Coroutine<> {
    asyncio::Event event;
    std::vector<std::function<Coroutine<int>()>> fns{
        [&] { return wait_event(event, 0); },
        [&] { return wait_event(event, 1); },
        [&] { return set_then_block(event); },
    };
    auto [winner, index, excs] = co_await staggered_race(std::move(fns), 0.1);
    EXPECT_EQ(winner, 0);
    EXPECT_EQ(index, 0u);
    CO_ASSERT_EQ(excs.size(), 3u);
    EXPECT_EQ(excs[0], nullptr);
    EXPECT_TRUE(holds<CancelledError>(excs[1]));
    EXPECT_TRUE(holds<CancelledError>(excs[2]));
  }());
}

namespace {

Coroutine<> log_cancel(std::vector<std::string>& log, const char* what) {
  try {
    co_await asyncio::sleep(0);
  } catch (const CancelledError&) {
    log.push_back(what);
  }
}

}  // namespace

// Cancelling the race cancels the running coroutine and waits for it; the
// race then raises CancelledError (CPython gh-128550's test_cancelled).
TEST(Staggered, test_cancelled) {
  std::vector<std::string> log;
  auto body = [&]() -> Coroutine<> {
    auto outer = [&](asyncio::Timeout& cs_outer) -> Coroutine<> {
      auto inner = [&](asyncio::Timeout& cs_inner) -> Coroutine<> {
        auto coro_fn = [&]() -> Coroutine<> {
          cs_inner.reschedule(-1);
          co_await asyncio::sleep(0);
          co_await log_cancel(log, "cancelled 1");
          cs_outer.reschedule(-1);
          co_await asyncio::sleep(0);
          co_await log_cancel(log, "cancelled 2");
        };
        std::vector<std::function<Coroutine<>()>> fns{coro_fn};
        try {
          co_await staggered_race(std::move(fns), std::nullopt);
        } catch (const CancelledError&) {
          log.push_back("cancelled 3");
          throw;
        }
      };
      co_await asyncio::timeout(std::nullopt, inner);
    };
    co_await asyncio::timeout(std::nullopt, outer);
  };
  std::exception_ptr e = asyncio_test::capture([&] { run_test(body()); });
  EXPECT_TRUE(holds<asyncio::TimeoutError>(e));
  EXPECT_EQ(log, (std::vector<std::string>{"cancelled 1", "cancelled 2", "cancelled 3"}));
}

namespace {

Coroutine<int> fail_after(double d) {
  co_await asyncio::sleep(d);
  throw std::invalid_argument("no good");
  co_return 0;
}

Coroutine<int> fail_soon() {
  co_await asyncio::sleep(0);
  throw std::invalid_argument("no good");
  co_return 0;
}

Coroutine<int> timer() {
  co_await asyncio::sleep(0.1);
  co_return 2;
}

Coroutine<int> blocked() {
  asyncio::Future<> fut = asyncio::get_running_loop().create_future();
  co_await fut;
  co_return 3;
}

}  // namespace

// With an eager task factory each task runs inside create_task() before the
// race registered it; it waits for that first (gh-124309).
TEST(Staggered, test_staggered_race_with_eager_tasks) {
  TestLoop t;
  t.loop.set_task_factory(asyncio::eager_task_factory);
  auto body = []() -> Coroutine<> {
    std::vector<std::function<Coroutine<int>()>> fns{
        [] { return fail_after(1); }, [] { return fail_soon(); }, [] { return timer(); }, [] { return blocked(); }};
    auto [winner, index, excs] = co_await staggered_race(std::move(fns), 0.25);
    EXPECT_EQ(winner, 2);
    EXPECT_EQ(index, 2u);
    CO_ASSERT_EQ(excs.size(), 3u);
    EXPECT_TRUE(holds<CancelledError>(excs[0]));
    EXPECT_TRUE(holds<std::invalid_argument>(excs[1]));
    EXPECT_EQ(excs[2], nullptr);
  };
  t.loop.run_until_complete(body());
  EXPECT_NEAR(t.loop.time(), 0.35, 1e-9);
  EXPECT_TRUE(asyncio::all_tasks(t.loop).empty());
  EXPECT_TRUE(t.log.calls.empty());
}

// The same race without the eager factory: the same outcome and times.
TEST(Staggered, FailureStartsTheNextAtOnce) {
  TestLoop t;
  auto body = []() -> Coroutine<> {
    std::vector<std::function<Coroutine<int>()>> fns{
        [] { return fail_after(1); }, [] { return fail_soon(); }, [] { return timer(); }, [] { return blocked(); }};
    auto [winner, index, excs] = co_await staggered_race(std::move(fns), std::chrono::milliseconds(250));
    EXPECT_EQ(index, 2u);
    CO_ASSERT_EQ(excs.size(), 3u);
    EXPECT_TRUE(holds<CancelledError>(excs[0]));
    EXPECT_TRUE(holds<std::invalid_argument>(excs[1]));
  };
  t.loop.run_until_complete(body());
  EXPECT_NEAR(t.loop.time(), 0.35, 1e-9);
  EXPECT_TRUE(asyncio::all_tasks(t.loop).empty());
}

// Cancelling the task that runs the race: every coroutine is cancelled and
// has finished before the CancelledError reaches the caller.
TEST(Staggered, CancellingTheRaceCancelsEveryCoroutine) {
  TestLoop t;
  int cleaned = 0;
  auto body = [&]() -> Coroutine<> {
    auto slow = [&]() -> Coroutine<int> {
      try {
        co_await asyncio::sleep(100);
      } catch (const CancelledError&) {
        ++cleaned;
        throw;
      }
      co_return 0;
    };
    std::vector<std::function<Coroutine<int>()>> fns{slow, slow, slow};
    auto race = asyncio::create_task(staggered_race(std::move(fns), 1.0));
    co_await asyncio::sleep(1.5);  // two started
    race.cancel("stop");
    std::exception_ptr e = co_await asyncio_test::raises(race);
    EXPECT_TRUE(holds<CancelledError>(e));
    EXPECT_EQ(asyncio_test::what(e), "stop");
    EXPECT_EQ(cleaned, 2);
  };
  t.loop.run_until_complete(body());
  EXPECT_TRUE(asyncio::all_tasks(t.loop).empty());
  EXPECT_TRUE(t.log.calls.empty());
}

// A void coroutine's result is std::monostate; the index tells the winner.
TEST(Staggered, VoidCoroutines) {
  run_test([]() -> Coroutine<> {
    auto fail = []() -> Coroutine<> {
      throw std::runtime_error("x");
      co_return;
    };
    auto ok = []() -> Coroutine<> { co_return; };
    std::vector<std::function<Coroutine<>()>> fns{fail, ok};
    asyncio::StaggeredResult<std::monostate> r = co_await staggered_race(std::move(fns), 0.5);
    EXPECT_TRUE(r.winner_result.has_value());
    EXPECT_EQ(r.winner_index, 1u);
  }());
}

// A loop closed while a race is pending: its tasks are reported as CPython
// reports pending tasks, and everything is freed (ASan: no leak, no use
// after free, whatever order the loop drops the tasks in).
TEST(Staggered, LoopClosedMidRace) {
  std::vector<std::string> messages;
  {
    TestLoop t;
    auto slow = []() -> Coroutine<int> {
      co_await asyncio::sleep(100);
      co_return 1;
    };
    std::vector<std::function<Coroutine<int>()>> fns{slow, slow};
    auto race = t.loop.create_task(staggered_race(std::move(fns), 1.0));
    t.loop.run_until_complete(asyncio::sleep(1.5));
    EXPECT_FALSE(race.done());
    t.loop.close();
    messages = t.log.messages();
  }
  EXPECT_FALSE(messages.empty());
  for (const auto& m : messages) EXPECT_EQ(m, "Task was destroyed but it is pending!");
}
