// Signals: add_signal_handler / remove_signal_handler, and run()'s SIGINT
// handling (spec §6; catalogue area 6, numbers 151 and 197).
// Ported from CPython v3.13.0 Lib/test/test_asyncio/test_unix_events.py and
// test_runners.py.
#include "asyncio_test.hpp"

#include <csignal>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::TestLoop;

TEST(Signals, SigtermDeliveredToTheProcessRunsTheHandler) {
  TestLoop t(false);
  int calls = 0;
  t.loop.add_signal_handler(SIGTERM, [&] {
    ++calls;
    t.loop.stop();
  });
  t.loop.call_soon([] { std::raise(SIGTERM); });
  t.loop.run_forever();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(t.loop.remove_signal_handler(SIGTERM));
  EXPECT_FALSE(t.loop.remove_signal_handler(SIGTERM));
}

TEST(Signals, HandlerRunsThroughTheReadyQueue) {
  TestLoop t(false);
  std::vector<std::string> ev;
  t.loop.add_signal_handler(SIGUSR1, [&] {
    ev.push_back("handler");
    t.loop.stop();
  });
  t.loop.call_soon([&] {
    std::raise(SIGUSR1);
    ev.push_back("after raise");  // the handler does not run inside raise()
  });
  t.loop.run_forever();
  EXPECT_EQ(ev, (std::vector<std::string>{"after raise", "handler"}));
  t.loop.remove_signal_handler(SIGUSR1);
}

TEST(Signals, ReplacingAHandler) {
  TestLoop t(false);
  std::string who;
  t.loop.add_signal_handler(SIGUSR2, [&] { who = "first"; });
  t.loop.add_signal_handler(SIGUSR2, [&] {
    who = "second";
    t.loop.stop();
  });
  t.loop.call_soon([] { std::raise(SIGUSR2); });
  t.loop.run_forever();
  EXPECT_EQ(who, "second");
  t.loop.remove_signal_handler(SIGUSR2);
}

// A signal whose call is queued, then its handler removed: nothing runs
// (the removed handler's captures may be gone by then). Both signals reach
// libuv before the loop polls, so one poll queues both watchers, SIGUSR2's
// first.
TEST(Signals, RemovedHandlerDoesNotRunForAQueuedSignal) {
  TestLoop t(false);
  int calls = 0;
  int removals = 0;
  t.loop.add_signal_handler(SIGUSR1, [&] { ++calls; });
  t.loop.add_signal_handler(SIGUSR2, [&] { removals += t.loop.remove_signal_handler(SIGUSR1); });
  std::raise(SIGUSR2);
  std::raise(SIGUSR1);
  t.loop.call_later(0.05, [&] { t.loop.stop(); });
  t.loop.run_forever();
  EXPECT_EQ(removals, 1);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(t.loop.remove_signal_handler(SIGUSR2));
}

// Signals that arrive before the handler runs are one call, as POSIX
// merges pending signals.
TEST(Signals, SignalsBeforeAPassAreOneCall) {
  TestLoop t(false);
  int calls = 0;
  t.loop.add_signal_handler(SIGUSR2, [&] { ++calls; });
  std::raise(SIGUSR2);
  std::raise(SIGUSR2);
  std::raise(SIGUSR2);
  t.loop.call_later(0.05, [&] { t.loop.stop(); });
  t.loop.run_forever();
  EXPECT_EQ(calls, 1);
  t.loop.remove_signal_handler(SIGUSR2);
}

TEST(Signals, InvalidSignals) {
  TestLoop t(false);
  EXPECT_THROW_MSG(t.loop.add_signal_handler(0, [] {}), std::invalid_argument, "invalid signal number 0");
  EXPECT_THROW_MSG(t.loop.add_signal_handler(100000, [] {}), std::invalid_argument, "invalid signal number 100000");
  EXPECT_THROW_MSG(t.loop.add_signal_handler(SIGKILL, [] {}), RuntimeError,
                   "sig " + std::to_string(SIGKILL) + " cannot be caught");
  EXPECT_FALSE(t.loop.remove_signal_handler(SIGHUP));
}

TEST(Signals, HandlerLeftInstalledIsClosedWithTheLoop) {
  TestLoop t(false);
  t.loop.add_signal_handler(SIGUSR1, [] {});
  t.loop.close();  // LeakSanitizer checks the watcher is freed
  EXPECT_FALSE(t.loop.remove_signal_handler(SIGUSR1));
}

namespace {

Coroutine<> loop_until_cancelled(int* iterations) {
  for (;;) {
    ++*iterations;
    if (*iterations == 3) std::raise(SIGINT);
    co_await asyncio::sleep(0);
  }
}

}  // namespace

TEST(Runners, Cat197_InterruptCallSoon) {
  int iterations = 0;
  auto e = asyncio_test::capture([&] { asyncio::run(loop_until_cancelled(&iterations)); });
  EXPECT_TRUE(asyncio_test::holds<KeyboardInterrupt>(e));
  EXPECT_GE(iterations, 3);
  // The default disposition is back: a later run is not affected.
  EXPECT_EQ(asyncio::run([]() -> Coroutine<int> { co_return 1; }()), 1);
}

TEST(Runners, Cat151_InterruptCancelledTask) {
  auto main = []() -> Coroutine<> {
    TaskRef me = current_task();
    auto subtask = [](TaskRef main) -> Coroutine<> {
      co_await asyncio::sleep(0);
      main.cancel();
      std::raise(SIGINT);
      co_return;
    };
    Task<> t = create_task(subtask(me));
    co_await asyncio::sleep(10.0);
    co_await t;
    co_return;
  };
  Runner runner;
  auto e = asyncio_test::capture([&] { runner.run(main()); });
  EXPECT_TRUE(asyncio_test::holds<CancelledError>(e));
  EXPECT_FALSE(asyncio_test::holds<KeyboardInterrupt>(e));
}

// run() removes its SIGINT handler only if it is still its own: one the
// program set during a run stays for the next (≙ Runner's getsignal() check).
TEST(Runners, HandlerSetDuringARunSurvivesIt) {
  Runner runner;
  int handled = 0;
  runner.run([](int* handled) -> Coroutine<> {
    asyncio::get_running_loop().add_signal_handler(SIGINT, [handled] { ++*handled; });
    co_return;
  }(&handled));
  auto e = asyncio_test::capture([&] {
    runner.run([]() -> Coroutine<> {
      std::raise(SIGINT);
      co_await asyncio::sleep(0.05);
    }());
  });
  EXPECT_FALSE(e) << asyncio_test::what(e);
  EXPECT_EQ(handled, 1);
  runner.get_loop().remove_signal_handler(SIGINT);
}

TEST(Runners, MainThatCatchesTheInterruptCompletes) {
  auto main = []() -> Coroutine<std::string> {
    try {
      std::raise(SIGINT);
      co_await asyncio::sleep(10.0);
    } catch (const CancelledError&) {
      co_return "cleaned up";
    }
    co_return "not interrupted";
  };
  EXPECT_EQ(asyncio::run(main()), "cleaned up");
}
