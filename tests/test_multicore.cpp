// Several loops in several threads: LoopGroup, submit_to, run_sharded
// (issue 15; docs/multicore.md). No CPython counterpart: a Python program
// would use processes. Run under TSan (scripts/run_tests.sh TSAN_TESTS).
#include "asyncio_test.hpp"

#include <asyncio/multicore.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <unistd.h>

using namespace asyncio;
using asyncio_test::run_test;

namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kSanitized = 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr int kSanitized = 1;
#else
constexpr int kSanitized = 0;
#endif
#else
constexpr int kSanitized = 0;
#endif

Coroutine<std::thread::id> thread_of_task() {
  co_await asyncio::sleep(0);
  co_return std::this_thread::get_id();
}

Coroutine<int> twice(int x) {
  co_await asyncio::sleep(0);
  co_return 2 * x;
}

Coroutine<int> fails() {
  co_await asyncio::sleep(0);
  throw std::invalid_argument("remote failure");
}

// Waits until cancelled; records the cancellation.
Coroutine<> wait_for_cancel(std::atomic<int>* started, std::atomic<int>* cancelled) {
  started->fetch_add(1);
  try {
    co_await get_running_loop().create_future<>();
  } catch (const CancelledError&) {
    cancelled->fetch_add(1);
    throw;
  }
}

Coroutine<int> cancels_itself() {
  current_task().cancel();
  co_await asyncio::sleep(0);
  co_return 1;
}

Coroutine<int> plus_one(int x, std::atomic<int>* runs) {
  runs->fetch_add(1);
  co_await asyncio::sleep(0);
  co_return x + 1;
}

// Polls `flag` on the running loop without blocking it.
Coroutine<> until(const std::atomic<int>& counter, int value) {
  while (counter.load() < value) co_await asyncio::sleep(0.001);
}

}  // namespace

TEST(LoopGroup, SizeStartStop) {
  LoopGroup group(3);
  EXPECT_EQ(group.size(), 3u);
  EXPECT_THROW(group.loop(0), RuntimeError);
  group.start();
  EXPECT_THROW(group.start(), RuntimeError);
  std::set<EventLoop*> loops;
  for (std::size_t i = 0; i < group.size(); ++i) loops.insert(&group.loop(i));
  EXPECT_EQ(loops.size(), 3u);
  EXPECT_THROW(group.loop(3), std::out_of_range);
  group.stop();
  group.stop();  // idempotent
  EXPECT_THROW(group.loop(0), RuntimeError);
}

TEST(LoopGroup, DefaultSizeIsTheNumberOfCores) {
  LoopGroup group;
  EXPECT_EQ(group.size(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(LoopGroup, EachLoopRunsInItsOwnThread) {
  LoopGroup group(2);
  group.start();
  auto ids = run_test(
      [](LoopGroup& g) -> Coroutine<std::vector<std::thread::id>> {
        std::vector<std::thread::id> out;
        out.push_back(co_await g.submit(0, thread_of_task()));
        out.push_back(co_await g.submit(1, thread_of_task()));
        out.push_back(std::this_thread::get_id());
        co_return out;
      }(group),
      false);
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[0], ids[2]);
  EXPECT_NE(ids[1], ids[2]);
}

TEST(LoopGroup, SubmitGivesTheResultOnTheCallersLoop) {
  LoopGroup group(2);
  group.start();
  const int r = run_test(
      [](LoopGroup& g) -> Coroutine<int> {
        Future<int> a = g.submit(0, twice(20));
        Future<int> b = g.submit(1, twice(1));
        const int x = co_await a;
        const int y = co_await b;
        EXPECT_EQ(&get_running_loop(), &get_running_loop());
        co_return x + y;
      }(group),
      false);
  EXPECT_EQ(r, 42);
}

TEST(LoopGroup, SubmitOwnsACapturingLambdaAndItsArguments) {
  LoopGroup group(1);
  group.start();
  const std::size_t r = run_test(
      [](LoopGroup& g) -> Coroutine<std::size_t> {
        Future<std::size_t> f;
        {
          // The closure is gone before the remote task runs: the submit
          // owns a copy (a dangling capture would show under ASan).
          auto work = [text = std::string(100, 'x')](std::string more) -> Coroutine<std::size_t> {
            co_await asyncio::sleep(0);
            co_return text.size() + more.size();
          };
          f = g.submit(0, work, std::string(50, 'y'));
        }
        const std::size_t n = co_await f;
        co_return n;
      }(group),
      false);
  EXPECT_EQ(r, 150u);
}

TEST(LoopGroup, SubmitRaisesTheRemoteException) {
  LoopGroup group(1);
  group.start();
  EXPECT_THROW(run_test(
                   [](LoopGroup& g) -> Coroutine<int> {
                     const int v = co_await g.submit(0, fails());
                     co_return v;
                   }(group),
                   false),
               std::invalid_argument);
}

TEST(LoopGroup, SubmitToTheRunningLoopItself) {
  const int r = run_test([]() -> Coroutine<int> {
    const int v = co_await submit_to(get_running_loop(), twice(4));
    co_return v;
  }());
  EXPECT_EQ(r, 8);
}

TEST(LoopGroup, CancellingTheAwaiterCancelsTheRemoteTask) {
  LoopGroup group(1);
  group.start();
  std::atomic<int> started{0}, cancelled{0};
  run_test(
      [](LoopGroup& g, std::atomic<int>& s, std::atomic<int>& c) -> Coroutine<> {
        Future<> f = g.submit(0, wait_for_cancel(&s, &c));
        co_await until(s, 1);
        EXPECT_TRUE(f.cancel());
        EXPECT_TRUE(f.cancelled());
        co_await until(c, 1);
      }(group, started, cancelled),
      false);
  EXPECT_EQ(cancelled.load(), 1);
}

TEST(LoopGroup, CancelledBeforeTheRemoteTaskStarts) {
  // The cancel request is seen when the remote loop makes the task: the
  // coroutine never runs its body.
  LoopGroup group(1);
  group.start();
  std::atomic<int> started{0}, cancelled{0};
  std::promise<void> gate;
  std::shared_future<void> gate_f = gate.get_future().share();
  // Keep the remote loop busy so that the submit waits in its queue.
  group.loop(0).call_soon_threadsafe([gate_f] { gate_f.wait(); });
  run_test(
      [](LoopGroup& g, std::atomic<int>& s, std::atomic<int>& c, std::promise<void>& open) -> Coroutine<> {
        Future<> f = g.submit(0, wait_for_cancel(&s, &c));
        f.cancel();
        // The cancel reaches the remote side from f's done-callback, which
        // runs at this loop's next step (as _chain_future's does): the gate
        // opens after it, or the remote task could start first.
        co_await asyncio::sleep(0);
        open.set_value();
        // A second submit behind it proves the first was handled.
        const int v = co_await g.submit(0, twice(1));
        EXPECT_EQ(v, 2);
      }(group, started, cancelled, gate),
      false);
  EXPECT_EQ(started.load(), 0);
}

TEST(LoopGroup, RemoteCancellationCancelsTheCallersFuture) {
  LoopGroup group(1);
  group.start();
  const bool was_cancelled = run_test(
      [](LoopGroup& g) -> Coroutine<bool> {
        Future<int> f = g.submit(0, cancels_itself());
        try {
          co_await f;
        } catch (const CancelledError&) {
        }
        co_return f.cancelled();
      }(group),
      false);
  EXPECT_TRUE(was_cancelled);
}

TEST(LoopGroup, StoppingTheGroupCancelsWhatIsPending) {
  auto group = std::make_unique<LoopGroup>(1);
  group->start();
  std::atomic<int> started{0}, cancelled{0};
  std::string message;
  run_test(
      [](std::unique_ptr<LoopGroup>& g, std::atomic<int>& s, std::atomic<int>& c, std::string& msg) -> Coroutine<> {
        Future<> f = g->submit(0, wait_for_cancel(&s, &c));
        co_await until(s, 1);
        // Stopping the group cancels what is left on its loops: the remote
        // task ends cancelled, and so does the caller's future.
        std::thread([&g] { g->stop(); }).join();
        try {
          co_await f;
        } catch (const CancelledError&) {
          msg = "cancelled";
        } catch (const RuntimeError& e) {
          msg = e.what();
        }
      }(group, started, cancelled, message),
      false);
  EXPECT_EQ(message, "cancelled");
  EXPECT_EQ(cancelled.load(), 1);
}

TEST(LoopGroup, SubmitToAClosedLoopFails) {
  EventLoop closed;
  closed.close();
  std::string message;
  run_test(
      [](EventLoop& target, std::string& msg) -> Coroutine<> {
        try {
          co_await submit_to(target, twice(1));
        } catch (const RuntimeError& e) {
          msg = e.what();
        }
      }(closed, message),
      false);
  EXPECT_EQ(message, "Event loop is closed");
}

TEST(LoopGroup, StopFromOneOfItsLoopsIsRefused) {
  LoopGroup group(1);
  group.start();
  std::promise<std::string> what;
  group.loop(0).call_soon_threadsafe([&] {
    try {
      group.stop();
      what.set_value("no error");
    } catch (const RuntimeError& e) {
      what.set_value(e.what());
    }
  });
  EXPECT_EQ(what.get_future().get(), "LoopGroup.stop() cannot be called from one of its loops");
}

// 16 loops each submit to random others; a random part of the awaits is
// cancelled. Every submit ends exactly once on the caller's side, with the
// right value or cancelled; every remote task ends; nothing is left.
TEST(LoopGroup, CrossLoopStorm) {
  constexpr int kLoops = 16;
  const int per_loop = kSanitized ? 2000 : 10000;
  LoopGroup group(kLoops);
  group.start();
  // Anything stranded (a task destroyed pending, an exception never
  // retrieved) is reported through a loop's exception handler.
  std::atomic<int> reports{0};
  for (int i = 0; i < kLoops; ++i) {
    std::atomic<int>* r = &reports;
    group.loop(static_cast<std::size_t>(i)).call_soon_threadsafe([r] {
      get_running_loop().set_exception_handler([r](EventLoop&, const ExceptionContext&) { r->fetch_add(1); });
    });
  }
  std::atomic<int> values{0}, cancels{0}, wrong{0}, remote_runs{0};
  std::vector<ConcurrentFuture<void>> done;
  for (int i = 0; i < kLoops; ++i) {
    auto storm = [](LoopGroup& g, int me, int n, std::atomic<int>& v, std::atomic<int>& c, std::atomic<int>& w,
                    std::atomic<int>& runs) -> Coroutine<> {
      std::mt19937 rng(static_cast<unsigned>(me));
      std::vector<std::pair<Future<int>, int>> out;
      for (int k = 0; k < n; ++k) {
        const int x = me * 1000000 + k;
        out.emplace_back(g.submit(rng() % g.size(), plus_one(x, &runs)), x);
        if (rng() % 4 == 0) out.back().first.cancel();
        if (k % 64 == 0) co_await asyncio::sleep(0);
      }
      for (auto& [f, x] : out) {
        try {
          const int r = co_await f;
          if (r != x + 1) w.fetch_add(1);
          v.fetch_add(1);
        } catch (const CancelledError&) {
          c.fetch_add(1);
        }
      }
    };
    done.push_back(run_coroutine_threadsafe(storm(group, i, per_loop, values, cancels, wrong, remote_runs), group.loop(i)));
  }
  for (auto& f : done) f.get();
  group.stop();
  EXPECT_EQ(reports.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(values.load() + cancels.load(), kLoops * per_loop);
  EXPECT_GT(cancels.load(), 0);
  EXPECT_GT(values.load(), 0);
  EXPECT_LE(remote_runs.load(), kLoops * per_loop);
  EXPECT_GE(remote_runs.load(), values.load());
}

TEST(RunSharded, EveryShardRunsOnItsOwnLoop) {
  std::mutex m;
  std::set<std::thread::id> threads;
  std::set<int> shards;
  run_sharded(3, [&](int shard) -> Coroutine<> {
    co_await asyncio::sleep(0);
    std::lock_guard lock(m);
    threads.insert(std::this_thread::get_id());
    shards.insert(shard);
  });
  EXPECT_EQ(shards, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(RunSharded, TheFirstFailureCancelsTheOthers) {
  std::atomic<int> started{0}, cancelled{0};
  try {
    run_sharded(3, [&](int shard) -> Coroutine<> {
      if (shard == 1) {
        co_await until(started, 2);
        throw std::invalid_argument("shard 1 failed");
      }
      co_await wait_for_cancel(&started, &cancelled);
    });
    FAIL() << "no exception";
  } catch (const ExceptionGroup& eg) {
    ASSERT_EQ(eg.exceptions().size(), 1u);
    EXPECT_THROW(std::rethrow_exception(eg.exceptions()[0]), std::invalid_argument);
  }
  EXPECT_EQ(cancelled.load(), 2);
}

TEST(RunSharded, CalledInsideALoopIsRefused) {
  EXPECT_THROW(run_test([]() -> Coroutine<> {
                 run_sharded(1, [](int) -> Coroutine<> { co_return; });
                 co_return;
               }()),
               RuntimeError);
}

namespace {

void interrupted_by(int sig) {
  std::atomic<int> started{0}, cancelled{0};
  constexpr int kShards = 3;
  EXPECT_THROW(run_sharded(kShards,
                           [&](int shard) -> Coroutine<> {
                             if (shard == 0) {
                               co_await until(started, kShards - 1);
                               ::kill(::getpid(), sig);
                             }
                             co_await wait_for_cancel(&started, &cancelled);
                           }),
               KeyboardInterrupt);
  EXPECT_EQ(cancelled.load(), kShards);
  struct sigaction sa {};
  ::sigaction(sig, nullptr, &sa);
  EXPECT_EQ(sa.sa_handler, SIG_DFL);  // the handlers are gone again
}

}  // namespace

TEST(RunSharded, SigintCancelsEveryShardOnceAndRaisesKeyboardInterrupt) { interrupted_by(SIGINT); }

TEST(RunSharded, SigtermCancelsEveryShardOnceAndRaisesKeyboardInterrupt) { interrupted_by(SIGTERM); }

namespace {

// A default executor that refuses every job: proves an await uses no thread.
void forbid_executor(EventLoop& loop) {
  auto ex = std::make_unique<ThreadPoolExecutor>(1);
  ex->shutdown(false);
  loop.set_default_executor(std::move(ex));
}

}  // namespace

TEST(ConcurrentFutureAwait, AwaitedDirectlyWithoutAThread) {
  LoopGroup group(1);
  group.start();
  const int r = run_test(
      [](LoopGroup& g) -> Coroutine<int> {
        forbid_executor(get_running_loop());
        ConcurrentFuture<int> cf = run_coroutine_threadsafe(twice(21), g.loop(0));
        const int v = co_await std::move(cf);
        co_return v;
      }(group),
      false);
  EXPECT_EQ(r, 42);
}

TEST(ConcurrentFutureAwait, WrapFutureWithoutAThread) {
  LoopGroup group(1);
  group.start();
  const int r = run_test(
      [](LoopGroup& g) -> Coroutine<int> {
        forbid_executor(get_running_loop());
        Future<int> f = wrap_future(run_coroutine_threadsafe(twice(5), g.loop(0)));
        const int v = co_await f;
        co_return v;
      }(group),
      false);
  EXPECT_EQ(r, 10);
}

TEST(ConcurrentFutureAwait, AlreadyDoneBeforeTheAwait) {
  LoopGroup group(1);
  group.start();
  ConcurrentFuture<int> cf = run_coroutine_threadsafe(twice(3), group.loop(0));
  cf.wait();
  const int r = run_test(
      [](ConcurrentFuture<int>& f) -> Coroutine<int> {
        const int v = co_await f;  // consumes it
        co_return v;
      }(cf),
      false);
  EXPECT_EQ(r, 6);
  EXPECT_FALSE(cf.valid());
}

TEST(ConcurrentFutureAwait, RaisesTheTasksException) {
  LoopGroup group(1);
  group.start();
  EXPECT_THROW(run_test(
                   [](LoopGroup& g) -> Coroutine<int> {
                     const int v = co_await run_coroutine_threadsafe(fails(), g.loop(0));
                     co_return v;
                   }(group),
                   false),
               std::invalid_argument);
}

TEST(ConcurrentFutureAwait, CancellingTheWrapperCancelsTheTask) {
  LoopGroup group(1);
  group.start();
  std::atomic<int> started{0}, cancelled{0};
  run_test(
      [](LoopGroup& g, std::atomic<int>& s, std::atomic<int>& c) -> Coroutine<> {
        Future<> f = wrap_future(run_coroutine_threadsafe(wait_for_cancel(&s, &c), g.loop(0)));
        co_await until(s, 1);
        EXPECT_TRUE(f.cancel());
        co_await until(c, 1);
      }(group, started, cancelled),
      false);
  EXPECT_EQ(cancelled.load(), 1);
}

TEST(ConcurrentFutureAwait, ACancelledTaskCancelsTheWrapper) {
  LoopGroup group(1);
  group.start();
  const bool was_cancelled = run_test(
      [](LoopGroup& g) -> Coroutine<bool> {
        Future<int> f = wrap_future(run_coroutine_threadsafe(cancels_itself(), g.loop(0)));
        try {
          co_await f;
        } catch (const CancelledError&) {
        }
        co_return f.cancelled();
      }(group),
      false);
  EXPECT_TRUE(was_cancelled);
}

TEST(ConcurrentFutureAwait, TheTasksLoopClosingCancelsTheWrapper) {
  auto group = std::make_unique<LoopGroup>(1);
  group->start();
  std::atomic<int> started{0}, cancelled{0};
  const bool was_cancelled = run_test(
      [](std::unique_ptr<LoopGroup>& g, std::atomic<int>& s, std::atomic<int>& c) -> Coroutine<bool> {
        Future<> f = wrap_future(run_coroutine_threadsafe(wait_for_cancel(&s, &c), g->loop(0)));
        co_await until(s, 1);
        std::thread([&g] { g->stop(); }).join();
        try {
          co_await f;
        } catch (const CancelledError&) {
        }
        co_return f.cancelled();
      }(group, started, cancelled),
      false);
  EXPECT_TRUE(was_cancelled);
}

// Channel<T>: asyncio.Queue's rules between loops (test_queues.py's
// cases that carry over, then the cross-thread ones).

TEST(Channel, FifoOnOneLoop) {
  Channel<int> ch(2);
  EXPECT_EQ(ch.maxsize(), 2);
  const std::vector<int> got = run_test([](Channel<int>& c) -> Coroutine<std::vector<int>> {
    co_await c.put(1);
    co_await c.put(2);
    EXPECT_TRUE(c.full());
    EXPECT_EQ(c.qsize(), 2u);
    std::vector<int> out;
    out.push_back(co_await c.get());
    out.push_back(co_await c.get());
    EXPECT_TRUE(c.empty());
    co_return out;
  }(ch));
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

TEST(Channel, NowaitErrors) {
  Channel<std::string> ch(1);
  EXPECT_THROW(ch.get_nowait(), QueueEmpty);
  ch.put_nowait("a");
  EXPECT_THROW(ch.put_nowait("b"), QueueFull);
  ch.shutdown();
  EXPECT_THROW(ch.put_nowait("c"), QueueShutDown);
  EXPECT_EQ(ch.get_nowait(), "a");  // what is in still comes out
  EXPECT_THROW(ch.get_nowait(), QueueShutDown);
}

TEST(Channel, ShutdownImmediateDropsTheItems) {
  Channel<std::unique_ptr<int>> ch;
  ch.put_nowait(std::make_unique<int>(1));
  ch.shutdown(true);
  EXPECT_EQ(ch.qsize(), 0u);
  EXPECT_THROW(ch.get_nowait(), QueueShutDown);
}

TEST(Channel, ShutdownWakesGettersAndPuttersOnOtherLoops) {
  LoopGroup group(2);
  group.start();
  Channel<int> ch(1);
  ch.put_nowait(0);
  auto getter = [](Channel<int>& c) -> Coroutine<std::string> {
    try {
      co_await c.get();
      co_await c.get();
    } catch (const QueueShutDown&) {
      co_return "get: QueueShutDown";
    }
    co_return "no error";
  };
  auto putter = [](Channel<int>& c) -> Coroutine<std::string> {
    try {
      co_await c.put(1);  // full: waits
      co_await c.put(2);
      co_await c.put(3);
    } catch (const QueueShutDown&) {
      co_return "put: QueueShutDown";
    }
    co_return "no error";
  };
  ConcurrentFuture<std::string> p = run_coroutine_threadsafe(putter(ch), group.loop(0));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let it wait (not asserted)
  ch.shutdown(true);
  EXPECT_EQ(p.get(), "put: QueueShutDown");
  ConcurrentFuture<std::string> g = run_coroutine_threadsafe(getter(ch), group.loop(1));
  EXPECT_EQ(g.get(), "get: QueueShutDown");
}

TEST(Channel, ACancelledPutPutsNothing) {
  Channel<int> ch(1);
  run_test([](Channel<int>& c) -> Coroutine<> {
    co_await c.put(1);
    Task<> t = create_task(c.put(2));
    co_await asyncio::sleep(0);
    t.cancel();
    try {
      co_await t;
    } catch (const CancelledError&) {
    }
    EXPECT_EQ(c.qsize(), 1u);
    EXPECT_EQ(c.get_nowait(), 1);
  }(ch));
  EXPECT_TRUE(ch.empty());
}

TEST(Channel, ACancelledGetterPassesItsWakeupOn) {
  // ≙ test_queues.py test_cancelled_getters_not_being_held_in_self_getters
  // and test_get_cancelled_race: an item put while the woken getter is
  // being cancelled goes to the next getter.
  Channel<int> ch;
  const int v = run_test([](Channel<int>& c) -> Coroutine<int> {
    Task<int> a = create_task(c.get());
    Task<int> b = create_task(c.get());
    co_await asyncio::sleep(0);
    c.put_nowait(7);  // wakes a
    a.cancel();       // before a runs
    const int got = co_await b;
    EXPECT_TRUE(a.cancelled());
    co_return got;
  }(ch));
  EXPECT_EQ(v, 7);
}

namespace {

Coroutine<> produce(Channel<int>* ch, int from, int n) {
  for (int i = 0; i < n; ++i) co_await ch->put(from + i);
}

// Gets until `total` items were taken by all consumers; a random part of
// its get() tasks is cancelled. Records what it got.
Coroutine<> consume(Channel<int>* ch, std::atomic<int>* taken, int total, unsigned seed, std::vector<int>* got) {
  std::mt19937 rng(seed);
  while (taken->load() < total) {
    Task<int> t = create_task(ch->get());
    if (rng() % 3 == 0) {
      co_await asyncio::sleep(0);
      t.cancel();
    }
    try {
      got->push_back(co_await t);
      taken->fetch_add(1);
    } catch (const CancelledError&) {
    } catch (const QueueShutDown&) {
      co_return;
    }
  }
}

}  // namespace

// Producers and consumers on different loops through a small channel, with
// random cancellation of the getters: every item arrives exactly once.
TEST(Channel, CrossLoopNoItemLostUnderCancellation) {
  constexpr int kProducers = 4, kConsumers = 4;
  const int per = kSanitized ? 1000 : 20000;
  const int total = kProducers * per;
  LoopGroup group(kProducers + kConsumers);
  group.start();
  Channel<int> ch(8);
  std::atomic<int> taken{0};
  std::vector<std::vector<int>> got(kConsumers);
  std::vector<ConcurrentFuture<void>> runs;
  for (int c = 0; c < kConsumers; ++c)
    runs.push_back(run_coroutine_threadsafe(consume(&ch, &taken, total, static_cast<unsigned>(c), &got[c]),
                                            group.loop(kProducers + c)));
  for (int p = 0; p < kProducers; ++p)
    runs.push_back(run_coroutine_threadsafe(produce(&ch, p * per, per), group.loop(p)));
  for (int p = 0; p < kProducers; ++p) runs[kConsumers + p].get();
  while (taken.load() < total) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ch.shutdown();  // consumers waiting in get() end
  for (int c = 0; c < kConsumers; ++c) runs[c].get();
  std::vector<int> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(total));
  for (int i = 0; i < total; ++i) ASSERT_EQ(all[i], i);
  EXPECT_TRUE(ch.empty());
}

// One port, N loops: SO_REUSEPORT (each shard its own listener) and the
// acceptor mode (one loop accepts, the shards serve).

namespace {

thread_local int tl_shard = -1;

void name_shards(LoopGroup& g) {
  for (std::size_t i = 0; i < g.size(); ++i) {
    std::promise<void> done;
    g.loop(i).call_soon_threadsafe([i, &done] {
      tl_shard = static_cast<int>(i);
      done.set_value();
    });
    done.get_future().wait();
  }
}

// Answers each line with the number of the shard serving it, until EOF;
// counts the connections it has finished (closed, connection_lost included).
struct ShardEcho {
  std::atomic<int>* finished;
  Coroutine<> operator()(StreamReader reader, StreamWriter writer) const {
    for (;;) {
      std::string line = co_await reader.readline();
      if (line.empty()) break;
      writer.write(std::to_string(tl_shard) + "\n");
      co_await writer.drain();
    }
    writer.close();
    co_await writer.wait_closed();
    finished->fetch_add(1);
  }
};

Coroutine<> reuse_port_shard(int* port, std::promise<void>* ready, std::atomic<int>* finished) {
  ShardEcho echo{finished};
  Server server = co_await start_server(echo, "127.0.0.1", *port, ServerOptions{.reuse_port = true});
  *port = server.sockets().at(0).getsockname().port;
  ready->set_value();
  co_await server.serve_forever();
}

// Connects, sends one line, gives the shard that answered.
Coroutine<int> ask_shard(int port) {
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  writer.write("which\n");
  std::string line = co_await reader.readline();
  writer.close();
  co_await writer.wait_closed();
  co_return std::stoi(line);
}

// A connection kept open: the shard that answered, and the writer.
Coroutine<std::pair<int, StreamWriter>> hold_shard(int port) {
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  writer.write("which\n");
  std::string line = co_await reader.readline();
  co_return std::make_pair(std::stoi(line), writer);
}

Coroutine<std::vector<int>> ask_many(int port, int n, int batch) {
  std::vector<int> shards;
  for (int done = 0; done < n; done += batch) {
    std::vector<Coroutine<int>> asks;
    for (int i = 0; i < batch && done + i < n; ++i) asks.push_back(ask_shard(port));
    std::vector<int> got = co_await gather(std::move(asks));
    shards.insert(shards.end(), got.begin(), got.end());
  }
  co_return shards;
}

}  // namespace

TEST(ShardedServer, ReusePortTwoShardsShareAThousandConnections) {
  constexpr int kConnections = 1000;
  std::atomic<int> finished{0};  // outlives the group's threads (AcceptorRoundRobin)
  LoopGroup group(2);
  group.start();
  name_shards(group);
  int port = 0;
  std::vector<ConcurrentFuture<void>> servers;
  for (std::size_t i = 0; i < group.size(); ++i) {
    std::promise<void> ready;
    servers.push_back(run_coroutine_threadsafe(reuse_port_shard(&port, &ready, &finished), group.loop(i)));
    ready.get_future().get();
  }
  const std::vector<int> shards = run_test(ask_many(port, kConnections, 50), false);
  ASSERT_EQ(shards.size(), static_cast<std::size_t>(kConnections));
  const auto on0 = std::count(shards.begin(), shards.end(), 0);
  const auto on1 = std::count(shards.begin(), shards.end(), 1);
  EXPECT_EQ(on0 + on1, kConnections);
  EXPECT_GT(on0, 0);  // the kernel spreads them (all on one: 2^-999)
  EXPECT_GT(on1, 0);
  while (finished.load() < kConnections) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  group.stop();
  for (auto& s : servers) EXPECT_THROW(s.get(), CancelledError);  // serve_forever() cancelled by stop()
}

TEST(ShardedServer, AcceptorRoundRobin) {
  // Declared before the group: a shard's handler may count a connection
  // after the test's last line, until the group's destructor joins it.
  std::atomic<int> finished{0};
  LoopGroup group(2);
  group.start();
  name_shards(group);
  const std::vector<int> shards = run_test(
      [](LoopGroup& g, std::atomic<int>& fin) -> Coroutine<std::vector<int>> {
        ShardEcho echo{&fin};
        Server server = co_await start_acceptor_server(g, echo, "127.0.0.1", 0);
        const int port = server.sockets().at(0).getsockname().port;
        std::vector<int> out;
        for (int i = 0; i < 6; ++i) out.push_back(co_await ask_shard(port));
        server.close();
        co_await server.wait_closed();
        co_return out;
      }(group, finished),
      false);
  EXPECT_EQ(shards, (std::vector<int>{0, 1, 0, 1, 0, 1}));
}

TEST(ShardedServer, AcceptorLeastLoaded) {
  std::atomic<int> finished{0};  // outlives the group's threads (AcceptorRoundRobin)
  LoopGroup group(2);
  group.start();
  name_shards(group);
  const std::vector<int> shards = run_test(
      [](LoopGroup& g, std::atomic<int>& fin) -> Coroutine<std::vector<int>> {
        ShardEcho echo{&fin};
        Server server =
            co_await start_acceptor_server(g, echo, "127.0.0.1", 0, ServerOptions{}, Dispatch::least_loaded);
        const int port = server.sockets().at(0).getsockname().port;
        std::vector<int> out;
        std::vector<StreamWriter> open;
        for (int i = 0; i < 4; ++i) {  // 0, 1, 0, 1 (ties go to the first)
          auto [shard, writer] = co_await hold_shard(port);
          out.push_back(shard);
          open.push_back(writer);
        }
        open[1].close();  // shard 1 now serves one connection, shard 0 two
        co_await open[1].wait_closed();
        while (fin.load() < 1) co_await asyncio::sleep(0.001);
        out.push_back(co_await ask_shard(port));  // round robin would say 0
        for (auto& w : open) {
          w.close();
          co_await w.wait_closed();
        }
        server.close();
        co_await server.wait_closed();
        co_return out;
      }(group, finished),
      false);
  EXPECT_EQ(shards, (std::vector<int>{0, 1, 0, 1, 1}));
}

TEST(Channel, AGetterWhoseLoopClosedDoesNotTakeTheWakeup) {
  // A getter left waiting on a loop closed without cancelling it (its
  // task destroyed pending) must not absorb the wake-up of the next item:
  // the getter on a live loop gets it.
  Channel<int> ch;
  {
    asyncio_test::TestLoop doomed(false);
    Task<int> stale = doomed.loop.create_task(ch.get());
    doomed.run_passes(2);  // its get() now waits
    ASSERT_FALSE(stale.done());
    doomed.loop.close();  // "Task was destroyed but it is pending!" (into the test's log)
  }
  LoopGroup group(1);
  group.start();
  ConcurrentFuture<int> live = run_coroutine_threadsafe(ch.get(), group.loop(0));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));  // let it wait (not asserted)
  ch.put_nowait(7);
  ASSERT_EQ(live.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the wake-up was lost";
  EXPECT_EQ(live.get(), 7);
}
