// Eager tasks and the task factory (spec §1.5, §1.6; catalogue area 1,
// numbers 9 and 35-41). Ported from CPython v3.13.0
// Lib/test/test_asyncio/test_eager_task_factory.py and test_base_events.py.
#include "asyncio_test.hpp"

#include <algorithm>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::TestLoop;

namespace {

using Events = std::vector<std::string>;

bool contains(const std::vector<TaskRef>& tasks, const TaskRef& t) {
  return std::find(tasks.begin(), tasks.end(), t) != tasks.end();
}

Coroutine<std::string> hello() { co_return "hello"; }

Coroutine<int> after(double delay, int v) {
  co_await asyncio::sleep(delay);
  co_return v;
}

// Records what it sees of itself during its eager step and after blocking.
Coroutine<> watch_self(std::vector<TaskRef>* seen, std::vector<bool>* listed) {
  seen->push_back(current_task());
  listed->push_back(contains(all_tasks(), current_task()));
  co_await asyncio::sleep(0.1);
  seen->push_back(current_task());
  listed->push_back(contains(all_tasks(), current_task()));
}

Coroutine<> record(Events* ev, std::string first, std::string second) {
  ev->push_back(first);
  co_await asyncio::sleep(0);
  ev->push_back(second);
}

}  // namespace

TEST(TaskFactory, Cat009_LoopAppliesNameWhenFactoryIgnoresIt) {
  TestLoop t;
  int created = 0;
  t.loop.set_task_factory(TaskFactory{.eager = false, .on_create = [&](TaskRef) { ++created; }});
  Task<std::string> task = t.loop.create_task(hello(), "test_task");
  EXPECT_EQ(task.get_name(), "test_task");
  EXPECT_EQ(created, 1);
  EXPECT_EQ(t.loop.run_until_complete(task), "hello");
}

TEST(TaskFactory, HookSeesTaskBeforeFirstStepAndMayRenameIt) {
  TestLoop t;
  Events ev;
  t.loop.set_task_factory(TaskFactory{.eager = false, .on_create = [&](TaskRef r) {
    ev.push_back("hook " + std::string(r.done() ? "done" : "pending"));
    r.set_name("renamed");
  }});
  auto body = [](Events* ev) -> Coroutine<> {
    ev->push_back("body " + current_task().get_name());
    co_return;
  };
  Task<> task = t.loop.create_task(body(&ev));
  t.loop.run_until_complete(task);
  EXPECT_EQ(ev, (Events{"hook pending", "body renamed"}));
}

TEST(TaskFactory, FailingHookPropagatesAndTheBodyNeverRuns) {
  TestLoop t;
  bool ran = false;
  t.loop.set_task_factory(TaskFactory{.eager = false, .on_create = [](TaskRef) { throw std::runtime_error("no"); }});
  auto body = [](bool* ran) -> Coroutine<> {
    *ran = true;
    co_return;
  };
  EXPECT_THROW_MSG(t.loop.create_task(body(&ran)), std::runtime_error, "no");
  t.loop.set_task_factory(TaskFactory{});
  t.run_briefly();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(all_tasks(t.loop).empty());
}

TEST(TaskFactory, GetTaskFactory) {
  TestLoop t;
  EXPECT_FALSE(t.loop.get_task_factory().eager);
  t.loop.set_task_factory(eager_task_factory);
  EXPECT_TRUE(t.loop.get_task_factory().eager);
  t.loop.set_task_factory({});
  EXPECT_FALSE(t.loop.get_task_factory().eager);
}

TEST(EagerTasks, Cat035_EagerCompletion) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  t.loop.run_until_complete([]() -> Coroutine<> {
    Task<std::string> task = create_task(hello());
    EXPECT_TRUE(task.done());  // immediately after create_task
    EXPECT_FALSE(task.cancel());
    EXPECT_EQ(co_await task, "hello");
    co_return;
  }());
}

TEST(EagerTasks, Cat036_BlockAfterEagerStep) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  t.loop.run_until_complete([](EventLoop& loop) -> Coroutine<> {
    Task<int> task = create_task(after(0.1, 7));
    EXPECT_FALSE(task.done());
    EXPECT_EQ(co_await task, 7);
    EXPECT_DOUBLE_EQ(loop.time(), 0.1);
    co_return;
  }(t.loop));
}

TEST(EagerTasks, Cat039_CancellationAfterEagerStepBlocks) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  t.loop.run_until_complete([]() -> Coroutine<> {
    Task<int> task = create_task(after(0.1, 7));
    EXPECT_TRUE(task.cancel("cancellation message"));
    EXPECT_GT(task.cancelling(), 0);
    std::exception_ptr e;
    try {
      co_await task;
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, CancelledError, "cancellation message");
    EXPECT_TRUE(task.cancelled());
    co_return;
  }());
}

TEST(EagerTasks, Cat040_CurrentTaskDuringAndAfterEagerStep) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  std::vector<TaskRef> seen;
  std::vector<bool> listed;
  t.loop.run_until_complete([](std::vector<TaskRef>* seen, std::vector<bool>* listed) -> Coroutine<> {
    TaskRef creator = current_task();
    Task<> task = create_task(watch_self(seen, listed));
    EXPECT_EQ(seen->size(), 1u);  // captured before create_task returned
    if (!seen->empty()) {
      EXPECT_TRUE((*seen)[0] == task);
    }
    EXPECT_TRUE(current_task() == creator);  // the creator is current again
    co_await task;
    EXPECT_EQ(seen->size(), 2u);
    if (seen->size() == 2) {
      EXPECT_TRUE((*seen)[1] == task);
    }
    co_return;
  }(&seen, &listed));
  EXPECT_EQ(listed, (std::vector<bool>{true, true}));
}

TEST(EagerTasks, Cat041_AllTasksWithEagerCompletion) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  t.loop.run_until_complete([]() -> Coroutine<> {
    auto listed_during = [](bool* out) -> Coroutine<> {
      *out = contains(all_tasks(), current_task());
      co_return;
    };
    bool during = false;
    Task<> task = create_task(listed_during(&during));
    EXPECT_TRUE(during);
    EXPECT_TRUE(task.done());
    EXPECT_FALSE(contains(all_tasks(), task));
    co_return;
  }());
}

TEST(EagerTasks, Cat041_AllTasksWithBlocking) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  t.loop.run_until_complete([]() -> Coroutine<> {
    Task<int> task = create_task(after(0.1, 1));
    EXPECT_TRUE(contains(all_tasks(), task));
    co_await task;
    EXPECT_FALSE(contains(all_tasks(), task));
    co_return;
  }());
}

TEST(EagerTasks, OrderBodyStartAfterCreateBodyResumed) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  Events ev;
  t.loop.run_until_complete([](Events* ev) -> Coroutine<> {
    Task<> task = create_task(record(ev, "body start", "body resumed"));
    ev->push_back("after create_task");
    co_await task;
    co_return;
  }(&ev));
  EXPECT_EQ(ev, (Events{"body start", "after create_task", "body resumed"}));
}

TEST(EagerTasks, LazyOrderWithoutTheFactory) {
  TestLoop t;
  Events ev;
  t.loop.run_until_complete([](Events* ev) -> Coroutine<> {
    Task<> task = create_task(record(ev, "body start", "body resumed"));
    ev->push_back("after create_task");
    co_await task;
    co_return;
  }(&ev));
  EXPECT_EQ(ev, (Events{"after create_task", "body start", "body resumed"}));
}

TEST(EagerTasks, NotEagerWhenTheLoopIsNotRunning) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  Task<std::string> task = t.loop.create_task(hello());
  EXPECT_FALSE(task.done());
  EXPECT_EQ(t.loop.run_until_complete(task), "hello");
}

TEST(EagerTasks, GatherChildrenStartEagerly) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  Events ev;
  t.loop.run_until_complete([](Events* ev) -> Coroutine<> {
    std::vector<Coroutine<>> cs;
    cs.push_back(record(ev, "a start", "a end"));
    cs.push_back(record(ev, "b start", "b end"));
    auto g = gather(std::move(cs));
    ev->push_back("after gather");
    co_await g;
    co_return;
  }(&ev));
  EXPECT_EQ(ev, (Events{"a start", "b start", "after gather", "a end", "b end"}));
}

TEST(EagerTasks, EagerTaskFailingAtOnceIsDoneWithItsException) {
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  t.loop.run_until_complete([]() -> Coroutine<> {
    auto boom = []() -> Coroutine<int> {
      throw std::runtime_error("boom");
      co_return 0;
    };
    Task<int> task = create_task(boom());
    EXPECT_TRUE(task.done());
    EXPECT_EXC(task.exception(), std::runtime_error, "boom");
    co_return;
  }());
  EXPECT_TRUE(t.log.calls.empty());
}
