// Timeouts, waiting and task groups: a slow operation cut by timeout(), the
// same with wait_for(), wait(FIRST_COMPLETED), and TaskGroups collecting
// results and failing together. Finishes by itself in about 0.2 s.
#include <asyncio/asyncio.hpp>
#include <asyncio/taskgroups.hpp>
#include <asyncio/timeouts.hpp>
#include <asyncio/wait.hpp>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

asyncio::Coroutine<std::string> fetch(std::string name, std::chrono::milliseconds delay) {
  co_await asyncio::sleep(delay);
  co_return name + " (" + std::to_string(delay.count()) + " ms)";
}

asyncio::Coroutine<std::string> fail_after(std::chrono::milliseconds delay) {
  co_await asyncio::sleep(delay);
  throw std::runtime_error("connection refused");
}

asyncio::Coroutine<> main_coroutine() {
  // async with asyncio.timeout(0.05): await fetch("slow", 0.5)
  try {
    std::string r = co_await asyncio::timeout(50ms, [] { return fetch("slow", 500ms); });
    std::cout << "timeout(): got " << r << '\n';
  } catch (const asyncio::TimeoutError&) {
    std::cout << "timeout(): the slow fetch was cancelled after 50 ms\n";
  }
  // A generous deadline: this one must not fire, however slow the machine
  // (valgrind, sanitizers).
  std::string fast = co_await asyncio::timeout(5s, [](asyncio::Timeout& cm) {
    std::cout << "timeout(): entered, " << cm.repr().substr(0, 18) << "...>\n";
    return fetch("fast", 10ms);
  });
  std::cout << "timeout(): got " << fast << '\n';

  // await asyncio.wait_for(fetch("slower", 0.3), timeout=0.02)
  try {
    co_await asyncio::wait_for(fetch("slower", 300ms), 0.02);
  } catch (const asyncio::TimeoutError&) {
    std::cout << "wait_for(): timed out, and the fetch was cancelled and awaited\n";
  }

  // done, pending = await asyncio.wait(racers, return_when=FIRST_COMPLETED)
  std::vector<asyncio::Task<std::string>> racers{asyncio::create_task(fetch("tortoise", 80ms)),
                                                 asyncio::create_task(fetch("hare", 20ms))};
  auto [done, pending] = co_await asyncio::wait(racers, asyncio::FIRST_COMPLETED);
  std::cout << "wait(FIRST_COMPLETED): " << done.front().result() << " finished first, " << pending.size()
            << " still running\n";
  for (auto& t : pending) t.cancel();

  // async with asyncio.TaskGroup() as tg: tasks = [tg.create_task(...), ...]
  std::vector<asyncio::Task<std::string>> tasks;
  co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coroutine<> {
    tasks.push_back(tg.create_task(fetch("a", 30ms)));
    tasks.push_back(tg.create_task(fetch("b", 10ms)));
    tasks.push_back(tg.create_task(fetch("c", 20ms)));
    co_return;
  });
  for (auto& t : tasks) std::cout << "task group: " << t.result() << '\n';

  // A failing task cancels the others; the errors come out together.
  asyncio::Task<std::string> slow;
  try {
    co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coroutine<> {
      slow = tg.create_task(fetch("never", 1s));
      tg.create_task(fail_after(20ms));
      co_return;
    });
  } catch (const asyncio::ExceptionGroup& eg) {
    std::cout << "task group: " << eg.what() << " (" << eg.exceptions().size() << "): "
              << asyncio::describe(eg.exceptions().front()) << '\n';
  }
  std::cout << "task group: the slow task was " << (slow.cancelled() ? "cancelled" : "not cancelled") << '\n';
}

int main() { return asyncio::run_main(main_coroutine()); }
