// asyncio-cpp: SPDX-License-Identifier: MIT
// The race of staggered_race(), without its results' type.
// ≙ Lib/asyncio/staggered.py (3.13 with the fixes of gh-124309 and
// gh-128550: the race waits for every task, also when it is cancelled).
#include <asyncio/staggered.hpp>

#include <asyncio/exceptions.hpp>
#include <asyncio/locks.hpp>
#include <asyncio/tasks.hpp>
#include <asyncio/wait.hpp>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <utility>

namespace asyncio::detail {

namespace {

/// What the race's tasks share. Each task holds it (its coroutine's
/// parameter), so it outlives every task whatever the order they are freed
/// in; the tasks' done-callbacks run while their task is alive and use a
/// plain pointer.
struct Race {
  Race(EventLoop& l, std::size_t n, StaggeredAttempt a, std::optional<double> d)
      : loop(l), count(n), attempt(std::move(a)), delay(d) {}

  EventLoop& loop;
  std::size_t count;
  StaggeredAttempt attempt;
  std::optional<double> delay;
  std::size_t next = 0;                          // ≙ the enumerate iterator
  std::optional<std::size_t> winner;
  std::vector<std::exception_ptr> exceptions;    // one per attempt started
  std::vector<std::exception_ptr> unhandled;     // errors of the race's own tasks
  std::vector<TaskRef> running;
  std::deque<Event> events;                      // stable addresses
  Future<> on_completed;                         // the race waits on it

  /// ≙ task_done: the race's done-callback of each task.
  void task_done(const TaskRef& task) {
    // Absent only once the race's frame has gone (ReleaseTasks).
    if (auto it = std::find(running.begin(), running.end(), task); it != running.end()) running.erase(it);
    if (on_completed && !on_completed.done() && running.empty()) on_completed.set_result();
    if (task.cancelled()) return;
    if (std::exception_ptr e = task.exception()) unhandled.push_back(e);
  }

  void cancel_all(const TaskRef& except, const std::string& msg) {
    for (TaskRef t : std::vector<TaskRef>(running))
      if (t != except) t.cancel(msg);
  }
};

void start_task(const std::shared_ptr<Race>& race, Event* previous_failed);

/// ≙ run_one_coro: waits for the previous attempt to fail or for `delay`,
/// starts the task of the next attempt, then runs its own.
Coroutine<> run_one(std::shared_ptr<Race> race, Event* ok_to_start, Event* previous_failed) {
  // With an eager task factory the task runs inside create_task(), before
  // the race has registered it; it must not get further before that
  // (gh-124309). Otherwise the event is already set: no suspension.
  bool registered = co_await ok_to_start->wait();
  (void)registered;
  if (previous_failed) {
    try {
      bool failed = co_await wait_for(previous_failed->wait(), race->delay);
      (void)failed;
    } catch (const TimeoutError&) {
      // The delay passed: start the next attempt anyway.
    }
  }
  if (race->next == race->count) co_return;
  const std::size_t index = race->next++;
  Event& this_failed = race->events.emplace_back();
  start_task(race, &this_failed);
  race->exceptions.push_back(nullptr);
  try {
    Coroutine<> attempt = race->attempt(index);
    co_await attempt;
  } catch (const KeyboardInterrupt&) {
    throw;
  } catch (const SystemExit&) {
    throw;
  } catch (...) {
    // Any failure, a cancellation by the winner included, is the attempt's
    // result (≙ `except BaseException as e`).
    race->exceptions[index] = std::current_exception();
    this_failed.set();
    co_return;
  }
  race->winner = index;
  // Not this task: it has no await left to be cancelled at (bpo-30048).
  race->cancel_all(current_task(race->loop), {});
}

void start_task(const std::shared_ptr<Race>& race, Event* previous_failed) {
  Event& ok_to_start = race->events.emplace_back();
  Task<> task = race->loop.create_task(run_one(race, &ok_to_start, previous_failed));
  race->running.push_back(task);
  task.add_done_callback([r = race.get()](Task<> t) { r->task_done(t); });
  ok_to_start.set();
}

/// Breaks the cycle race → running tasks → their frames → race, should the
/// race's own frame be destroyed before its tasks finished (a loop closed
/// with the race pending).
struct ReleaseTasks {
  Race& race;
  ~ReleaseTasks() { race.running.clear(); }
};

}  // namespace

Coroutine<StaggeredOutcome> staggered_race(std::size_t count, StaggeredAttempt attempt, std::optional<double> delay) {
  EventLoop& loop = get_running_loop();
  auto race = std::make_shared<Race>(loop, count, std::move(attempt), delay);
  ReleaseTasks release{*race};
  start_task(race, nullptr);
  std::exception_ptr cancelled;
  // Every task must finish before the race returns, also when the race is
  // cancelled: their cleanup (a loser's socket) is done by then.
  while (!race->running.empty()) {
    race->on_completed = loop.create_future();
    Future<> completed = race->on_completed;
    try {
      co_await completed;
    } catch (const CancelledError& e) {
      cancelled = std::current_exception();
      race->cancel_all({}, e.what());
    }
    race->on_completed = {};
  }
  if (!race->unhandled.empty()) throw ExceptionGroup("staggered race failed", std::move(race->unhandled));
  if (cancelled) std::rethrow_exception(cancelled);
  co_return StaggeredOutcome{race->winner, std::move(race->exceptions)};
}

}  // namespace asyncio::detail
