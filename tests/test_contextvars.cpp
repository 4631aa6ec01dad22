// Context variables (<asyncio/contextvars.hpp>). Ported from CPython v3.13.0
// Lib/test/test_context.py (ContextTest; the HAMT tests are of CPython's
// map, not of the API), test_asyncio/test_tasks.py (test_context_*,
// test_get_context), test_eager_task_factory.py (test_context_vars),
// test_futures2.py (the exception handler's context), test_taskgroups.py,
// test_runners.py and test_threads.py (catalogue 357). Python's `None` as
// a default becomes the string "<none>"; the TypeErrors of wrong argument
// types are C++ compile errors.
#include "asyncio_test.hpp"

#include <asyncio/contextvars.hpp>

#include <atomic>
#include <csignal>
#include <chrono>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace asyncio;
using asyncio_test::run_test;
using asyncio_test::TestLoop;

namespace {

const std::string none = "<none>";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

// ---- ContextTest (test_context.py) ------------------------------------------

TEST(ContextTest, test_context_var_new_1) {
  ContextVar<int> c("aaa");
  EXPECT_EQ(c.name(), "aaa");
  ContextVar<int> same = c;
  EXPECT_TRUE(same == c);
  EXPECT_FALSE(ContextVar<int>("aaa") == c);  // a variable is its identity, not its name
}

TEST(ContextTest, test_context_var_repr_1) {
  Context().run([] {
    ContextVar<int> c("a");
    EXPECT_TRUE(contains(c.repr(), "'a'")) << c.repr();
    EXPECT_TRUE(c.repr().starts_with("<ContextVar name='a' at 0x")) << c.repr();
    ContextVar<int> d("a", 123);
    EXPECT_TRUE(contains(d.repr(), "default=123")) << d.repr();
    ContextVar<std::string> s("s", "x");
    EXPECT_TRUE(contains(s.repr(), "default='x'")) << s.repr();
    Token<int> t = d.set(1);
    EXPECT_TRUE(contains(t.repr(), d.repr())) << t.repr();
    EXPECT_FALSE(contains(t.repr(), " used ")) << t.repr();
    d.reset(t);
    EXPECT_TRUE(contains(t.repr(), " used ")) << t.repr();
  });
}

TEST(ContextTest, test_context_get_context_1) {
  Context ctx = copy_context();
  EXPECT_EQ(ctx.size(), 0u);
  EXPECT_TRUE(ctx.repr().starts_with("<_contextvars.Context object at 0x")) << ctx.repr();
}

TEST(ContextTest, test_context_run_2) {
  Context ctx;
  auto func = [](std::vector<int> args) {
    args.push_back(-1);
    return args;
  };
  EXPECT_EQ(ctx.run(func, std::vector<int>{}), std::vector<int>{-1});
  EXPECT_EQ(ctx.run(func, std::vector<int>{1}), (std::vector<int>{1, -1}));
  EXPECT_EQ(ctx.run([](int a, int b) { return a * 10 + b; }, 1, 2), 12);
  int called = 0;
  ctx.run([&called] { ++called; });  // void
  EXPECT_EQ(called, 1);
}

TEST(ContextTest, test_context_run_3) {
  Context ctx;
  auto func = [](int) -> int { throw std::domain_error("division by zero"); };
  EXPECT_THROW(ctx.run(func, 1), std::domain_error);
  EXPECT_THROW(ctx.run(func, 2), std::domain_error);
  // Left as it was: it can be entered again.
  EXPECT_EQ(ctx.run([] { return 7; }), 7);
}

TEST(ContextTest, test_context_run_4) {
  Context().run([] {
    Context ctx1;
    Context ctx2;
    ContextVar<std::string> var("var");
    auto func2 = [&] { EXPECT_EQ(var.get(none), none); };
    auto func1 = [&] {
      EXPECT_EQ(var.get(none), none);
      var.set("spam");
      ctx2.run(func2);
      EXPECT_EQ(var.get(none), "spam");
      Context cur = copy_context();
      EXPECT_EQ(cur.size(), 1u);
      EXPECT_EQ(cur[var], "spam");
      return cur;
    };
    Context returned_ctx = ctx1.run(func1);
    EXPECT_FALSE(ctx1 == returned_ctx);  // CPython: equal as mappings; here == is identity
    EXPECT_EQ(ctx1[var], "spam");
    EXPECT_EQ(returned_ctx[var], "spam");
    EXPECT_TRUE(returned_ctx.contains(var));
  });
}

TEST(ContextTest, test_context_run_5) {
  Context ctx;
  ContextVar<std::string> var("var");
  auto func = [&] {
    EXPECT_EQ(var.get(none), none);
    var.set("spam");
    throw std::domain_error("division by zero");
  };
  EXPECT_THROW(ctx.run(func), std::domain_error);
  EXPECT_EQ(var.get(none), none);
}

TEST(ContextTest, test_context_run_6) {
  Context ctx;
  ContextVar<int> c("a", 0);
  ctx.run([&] {
    EXPECT_EQ(c.get(), 0);
    EXPECT_EQ(ctx.get(c), std::nullopt);
    c.set(42);
    EXPECT_EQ(c.get(), 42);
    EXPECT_EQ(ctx.get(c), 42);
  });
}

TEST(ContextTest, test_context_run_7) {
  Context ctx;
  bool checked = false;
  ctx.run([&] {
    auto e = asyncio_test::capture([&] { ctx.run([] {}); });
    EXPECT_EXC(e, RuntimeError, "cannot enter context: " + ctx.repr() + " is already entered");
    checked = true;
  });
  EXPECT_TRUE(checked);
}

TEST(ContextTest, test_context_getset_1) {
  Context().run([] {
    ContextVar<std::string> c("c");
    EXPECT_THROW_MSG(c.get(), LookupError, c.repr());
    EXPECT_EQ(c.get(none), none);

    Token<std::string> t0 = c.set("42");
    EXPECT_EQ(c.get(), "42");
    EXPECT_EQ(c.get(none), "42");
    EXPECT_EQ(t0.old_value(), std::nullopt);  // Token.MISSING
    EXPECT_TRUE(t0.var() == c);

    Token<std::string> t = c.set("spam");
    EXPECT_EQ(c.get(), "spam");
    EXPECT_EQ(c.get(none), "spam");
    EXPECT_EQ(t.old_value(), "42");

    c.reset(t);
    EXPECT_EQ(c.get(), "42");
    EXPECT_EQ(c.get(none), "42");

    c.set("spam2");
    EXPECT_THROW_MSG(c.reset(t), RuntimeError, t.repr() + " has already been used once");
    EXPECT_EQ(c.get(), "spam2");

    Context ctx1 = copy_context();
    EXPECT_TRUE(ctx1.contains(c));

    c.reset(t0);
    EXPECT_THROW_MSG(c.reset(t0), RuntimeError, t0.repr() + " has already been used once");
    EXPECT_EQ(c.get(none), none);

    EXPECT_TRUE(ctx1.contains(c));
    EXPECT_EQ(ctx1[c], "spam2");
    EXPECT_EQ(ctx1.get(c, "aa"), "spam2");
    EXPECT_EQ(ctx1.size(), 1u);
    EXPECT_EQ(ctx1.names(), std::vector<std::string>{"c"});

    Context ctx2 = copy_context();
    EXPECT_FALSE(ctx2.contains(c));
    EXPECT_THROW_MSG(ctx2[c], KeyError, c.repr());
    EXPECT_EQ(ctx2.get(c, "aa"), "aa");
    EXPECT_EQ(ctx2.size(), 0u);
    EXPECT_TRUE(ctx2.names().empty());
  });
}

TEST(ContextTest, test_context_getset_2) {
  Context().run([] {
    ContextVar<int> v1("v1");
    ContextVar<int> v2("v2");
    Token<int> t1 = v1.set(42);
    // C++ rejects a Token<int> of another type at compile time; one of the
    // same type and another variable is refused as CPython refuses it.
    EXPECT_THROW_MSG(v2.reset(t1), std::invalid_argument, t1.repr() + " was created by a different ContextVar");
    EXPECT_EQ(v1.get(), 42);
  });
}

TEST(ContextTest, test_context_getset_3) {
  Context().run([] {
    ContextVar<int> c("c", 42);
    Context ctx;
    ctx.run([&] {
      EXPECT_EQ(c.get(), 42);
      EXPECT_THROW(ctx[c], KeyError);
      EXPECT_EQ(ctx.get(c), std::nullopt);
      EXPECT_EQ(ctx.get(c, -1), -1);
      EXPECT_FALSE(ctx.contains(c));
      EXPECT_TRUE(ctx.names().empty());
      Token<int> t = c.set(1);
      EXPECT_EQ(ctx.names(), std::vector<std::string>{"c"});
      EXPECT_EQ(ctx[c], 1);
      c.reset(t);
      EXPECT_TRUE(ctx.names().empty());
      EXPECT_THROW(ctx[c], KeyError);
    });
  });
}

TEST(ContextTest, test_context_getset_4) {
  Context().run([] {
    ContextVar<int> c("c", 42);
    Context ctx;
    Token<int> tok = ctx.run([&] { return c.set(1); });
    EXPECT_THROW_MSG(c.reset(tok), std::invalid_argument, tok.repr() + " was created in a different Context");
  });
}

TEST(ContextTest, test_context_getset_5) {
  Context().run([] {
    ContextVar<std::vector<int>> c("c", {});
    c.set({});
    copy_context().run([&] {
      c.set({});
      std::vector<int> v = c.get();
      v.push_back(42);
      c.set(v);
      EXPECT_EQ(c.get(), std::vector<int>{42});
    });
    EXPECT_EQ(c.get(), std::vector<int>{});
  });
}

TEST(ContextTest, test_context_copy_1) {
  Context ctx1;
  ContextVar<int> c("c", 42);
  auto ctx2_fun = [&] {
    EXPECT_EQ(c.get(), 10);
    c.set(30);
    EXPECT_EQ(c.get(), 30);
  };
  ctx1.run([&] {
    c.set(10);
    Context ctx2 = ctx1.copy();
    EXPECT_EQ(ctx2[c], 10);
    c.set(20);
    EXPECT_EQ(ctx1[c], 20);
    EXPECT_EQ(ctx2[c], 10);
    ctx2.run(ctx2_fun);
    EXPECT_EQ(ctx1[c], 20);
    EXPECT_EQ(ctx2[c], 30);
  });
}

TEST(ContextTest, test_context_threads_1) {
  // Each thread has a context of its own: what one sets at its top level
  // the others never see.
  Context().run([] {
    ContextVar<int> cvar("cvar");
    std::atomic<int> mismatches{0};
    auto sub = [&](int num) {
      std::mt19937 rng(static_cast<unsigned>(num));
      for (int i = 0; i < 10; ++i) {
        cvar.set(num + i);
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
        if (cvar.get() != num + i) ++mismatches;
      }
    };
    std::vector<std::thread> pool;
    for (int n = 0; n < 10; ++n) pool.emplace_back(sub, n);
    for (std::thread& t : pool) t.join();
    EXPECT_EQ(mismatches.load(), 0);
    EXPECT_THROW(cvar.get(), LookupError);  // this thread never set it
  });
}

TEST(ContextTest, ThreadsShareACopiedContext) {
  // A Context copied into several threads at once: each runs a copy of its
  // own; entering the same object twice is refused in any thread.
  ContextVar<int> var("var", 0);
  Context base = Context().run([&] {
    var.set(5);
    return copy_context();
  });
  std::atomic<int> seen{0};
  std::vector<std::thread> pool;
  for (int n = 0; n < 4; ++n)
    pool.emplace_back([&, n] {
      base.copy().run([&] {
        seen += var.get();
        var.set(n);
      });
    });
  for (std::thread& t : pool) t.join();
  EXPECT_EQ(seen.load(), 20);
  EXPECT_EQ(base[var], 5);
}

// ---- test_tasks.py ----------------------------------------------------------

namespace {

Coroutine<> sub_1(ContextVar<std::string> cvar) {
  co_await asyncio::sleep(0.01);
  EXPECT_EQ(cvar.get(), "nope");
  cvar.set("something else");
}

Coroutine<> main_1(ContextVar<std::string> cvar) {
  EXPECT_EQ(cvar.get(), "nope");
  Task<> subtask = get_running_loop().create_task(sub_1(cvar), "TestTask");
  cvar.set("yes");
  EXPECT_EQ(cvar.get(), "yes");
  co_await subtask;
  EXPECT_EQ(cvar.get(), "yes");
}

}  // namespace

TEST(TaskContext, test_context_1) {
  ContextVar<std::string> cvar("cvar", "nope");
  TestLoop t;
  Task<> task = t.loop.create_task(main_1(cvar));
  t.loop.run_until_complete(task);
  EXPECT_TRUE(task.done());
  EXPECT_TRUE(t.log.calls.empty());
}

namespace {

Coroutine<> main_2(EventLoop* loop, ContextVar<std::string> cvar) {
  EXPECT_EQ(cvar.get(), "nope");
  for (int j = 0; j < 2; ++j) {
    Future<> fut = loop->create_future();
    // This change must not pollute the context of the "main()" task.
    fut.add_done_callback([cvar](Future<>) mutable { cvar.set("something else"); });
    cvar.set("yes" + std::to_string(j));
    loop->call_soon([fut]() mutable { fut.set_result(); });
    co_await fut;
    EXPECT_EQ(cvar.get(), "yes" + std::to_string(j));
    for (int i = 0; i < 3; ++i) {
      // The task passed its context to add_done_callback.
      cvar.set("yes" + std::to_string(i) + "-" + std::to_string(j));
      co_await asyncio::sleep(0.001);
      EXPECT_EQ(cvar.get(), "yes" + std::to_string(i) + "-" + std::to_string(j));
    }
  }
}

}  // namespace

TEST(TaskContext, test_context_2) {
  ContextVar<std::string> cvar("cvar", "nope");
  {
    TestLoop t;
    Task<> task = t.loop.create_task(main_2(&t.loop, cvar));
    t.loop.run_until_complete(task);
    EXPECT_TRUE(t.log.calls.empty());
  }
  EXPECT_EQ(cvar.get(), "nope");
}

namespace {

Coroutine<> sub_3(ContextVar<int> cvar, int num, unsigned seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < 10; ++i) {
    cvar.set(num + i);
    co_await asyncio::sleep(0.001 + (rng() % 50) / 1000.0);
    EXPECT_EQ(cvar.get(), num + i);
  }
}

Coroutine<> main_3(ContextVar<int> cvar) {
  std::vector<Task<>> tasks;
  std::mt19937 rng(3);
  for (int i = 0; i < 100; ++i)
    tasks.push_back(get_running_loop().create_task(sub_3(cvar, static_cast<int>(rng() % 11), rng())));
  co_await asyncio::gather(std::move(tasks));
}

}  // namespace

TEST(TaskContext, test_context_3) {
  // 100 tasks in parallel, each setting cvar.
  ContextVar<int> cvar("cvar", -1);
  {
    TestLoop t;
    t.loop.run_until_complete(main_3(cvar));
  }
  EXPECT_EQ(cvar.get(), -1);
}

namespace {

Coroutine<> set_after_yield(ContextVar<int> cvar, int val) {
  co_await asyncio::sleep(0);
  cvar.set(val);
}

enum class Spawn { loop_create_task, create_task, running_loop_create_task };

Coroutine<std::vector<int>> main_context_param(ContextVar<int> cvar, Spawn how) {
  std::vector<int> ret;
  Context ctx = copy_context();
  ret.push_back(ctx.get(cvar, -1));
  for (int v = 1; v <= 2; ++v) {
    Task<> t;
    switch (how) {
      case Spawn::loop_create_task:
        t = get_running_loop().create_task(set_after_yield(cvar, v), "TestTask", ctx);
        break;
      case Spawn::create_task:
        t = asyncio::create_task(set_after_yield(cvar, v), ctx);
        break;
      case Spawn::running_loop_create_task:
        t = get_running_loop().create_task(set_after_yield(cvar, v), ctx);
        break;
    }
    co_await t;
    ret.push_back(ctx.get(cvar, -1));
  }
  EXPECT_EQ(cvar.get(-1), -1);  // the creator's own context is untouched
  co_return ret;
}

std::vector<int> run_context_param(Spawn how) {
  ContextVar<int> cvar("cvar");
  TestLoop t;
  Task<std::vector<int>> task = t.loop.create_task(main_context_param(cvar, how));
  return t.loop.run_until_complete(task);
}

}  // namespace

TEST(TaskContext, test_context_4) {
  EXPECT_EQ(run_context_param(Spawn::loop_create_task), (std::vector<int>{-1, 1, 2}));
}

TEST(TaskContext, test_context_5) {
  EXPECT_EQ(run_context_param(Spawn::create_task), (std::vector<int>{-1, 1, 2}));
}

TEST(TaskContext, test_context_6) {
  EXPECT_EQ(run_context_param(Spawn::running_loop_create_task), (std::vector<int>{-1, 1, 2}));
}

namespace {

Coroutine<> nothing() { co_return; }

}  // namespace

TEST(TaskContext, test_get_context) {
  TestLoop t;
  Context context = copy_context();
  Task<> task = t.loop.create_task(nothing(), "TestTask", context);
  t.loop.run_until_complete(task);
  EXPECT_TRUE(task.get_context() == context);
}

TEST(TaskContext, GetContextOfATaskIsItsOwnCopy) {
  // Without context=, the task's context is a copy: a Context object of
  // its own, the same one every time, holding what the task set.
  ContextVar<int> var("var", 0);
  TestLoop t;
  Context creator = copy_context();
  Task<> task = creator.run([&] {
    var.set(1);
    return t.loop.create_task(set_after_yield(var, 7));
  });
  t.loop.run_until_complete(task);
  Context c = task.get_context();
  EXPECT_TRUE(c == task.get_context());
  EXPECT_FALSE(c == creator);
  EXPECT_EQ(c[var], 7);
  EXPECT_EQ(creator[var], 1);
}

namespace {

/// Records the value of `var` seen by its destructor (the moved-from ones
/// record nothing).
struct Probe {
  Probe(ContextVar<int> v, std::vector<int>* s) : var(std::move(v)), seen(s) {}
  Probe(Probe&& o) noexcept : var(o.var), seen(std::exchange(o.seen, nullptr)) {}
  ~Probe() {
    if (seen) seen->push_back(var.get(-1));
  }
  ContextVar<int> var;
  std::vector<int>* seen;
};

Coroutine<Probe> make_probe(ContextVar<int> var, std::vector<int>* seen) {
  var.set(7);
  co_return Probe(var, seen);
}

Coroutine<> drop_probe_task(ContextVar<int> var, std::vector<int>* seen) {
  (void)asyncio::create_task(make_probe(var, seen));  // freed by its own last step
  co_await asyncio::sleep(0);
  co_await asyncio::sleep(0);
  EXPECT_EQ(var.get(-1), -1);
}

}  // namespace

TEST(TaskContext, ResultDestroyedByTheLastStepSeesTheTasksContext) {
  ContextVar<int> var("var");
  std::vector<int> seen;
  run_test(drop_probe_task(var, &seen));
  EXPECT_EQ(seen, std::vector<int>{7});
}

// ---- test_eager_task_factory.py ---------------------------------------------

namespace {

struct EagerSteps {
  bool first = false;
  bool second = false;
};

Coroutine<> eager_coro(ContextVar<int> cv, EagerSteps* s) {
  EXPECT_EQ(cv.get(), 1);
  cv.set(2);
  EXPECT_EQ(cv.get(), 2);
  s->first = true;
  co_await asyncio::sleep(0.1);
  EXPECT_EQ(cv.get(), 2);
  cv.set(3);
  EXPECT_EQ(cv.get(), 3);
  s->second = true;
}

Coroutine<> eager_run(ContextVar<int> cv, EagerSteps* s) {
  cv.set(1);
  Task<> t = get_running_loop().create_task(eager_coro(cv, s));
  EXPECT_TRUE(s->first);
  EXPECT_FALSE(s->second);
  EXPECT_EQ(cv.get(), 1);
  co_await t;
  EXPECT_TRUE(s->second);
  EXPECT_EQ(cv.get(), 1);
}

}  // namespace

TEST(EagerTaskFactory, test_context_vars) {
  ContextVar<int> cv("cv", 0);
  EagerSteps steps;
  TestLoop t;
  t.loop.set_task_factory(eager_task_factory);
  t.loop.run_until_complete(eager_run(cv, &steps));
  EXPECT_TRUE(steps.second);
  EXPECT_EQ(cv.get(), 0);
}

// ---- test_futures2.py: the exception handler runs in the failing context ----

namespace {

Coroutine<> fail_with_name(ContextVar<std::string> name) {
  name.set("bar");
  throw std::domain_error("division by zero");
  co_return;
}

Coroutine<> spawn_failing(ContextVar<std::string> name) {
  // The task is dropped unawaited: its exception is never retrieved.
  (void)asyncio::create_task(fail_with_name(name));
  co_await asyncio::sleep(0);
  co_await asyncio::sleep(0);
}

}  // namespace

TEST(FutureTests, test_task_exc_handler_correct_context) {
  ContextVar<std::string> name("name", "foo");
  EventLoop loop(LoopOptions{.virtual_time = true});
  std::vector<std::string> seen;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext&) { seen.push_back(name.get()); });
  loop.run_until_complete(spawn_failing(name));
  EXPECT_EQ(seen, std::vector<std::string>{"bar"});
}

TEST(FutureTests, test_handle_exc_handler_correct_context) {
  ContextVar<std::string> name("name", "foo");
  TestLoop t;
  std::vector<std::string> seen;
  t.loop.set_exception_handler([&](EventLoop&, const ExceptionContext&) { seen.push_back(name.get()); });
  t.loop.call_soon([name]() mutable {
    name.set("bar");
    throw std::domain_error("division by zero");
  });
  t.run_passes(1);
  EXPECT_EQ(seen, std::vector<std::string>{"bar"});
  EXPECT_EQ(name.get(), "foo");
}

// ---- call_soon & co. (test_events.py / base_events.py: context=) -----------

TEST(HandleContext, CallSoonRunsInACopyOfTheCallersContext) {
  ContextVar<int> var("var", 0);
  TestLoop t;
  std::vector<int> seen;
  Context outer;
  Handle h = outer.run([&] {
    var.set(1);
    Handle handle = t.loop.call_soon([&] {
      seen.push_back(var.get());
      var.set(2);  // stays in the handle's copy
    });
    var.set(3);  // after scheduling: not seen by the callback
    return handle;
  });
  t.run_passes(1);
  EXPECT_EQ(seen, std::vector<int>{1});
  EXPECT_EQ(outer[var], 3);
  EXPECT_EQ(h.get_context()[var], 2);
  EXPECT_EQ(var.get(), 0);
}

TEST(HandleContext, CallSoonContextParameter) {
  // ≙ loop.call_soon(cb, context=ctx): runs in ctx itself, which keeps
  // what the callback set; Handle.get_context() is ctx.
  ContextVar<int> var("var", 0);
  TestLoop t;
  Context ctx;
  std::vector<int> seen;
  Handle h1 = t.loop.call_soon([&] { var.set(var.get() + 1); }, ctx);
  TimerHandle h2 = t.loop.call_later(0.5, [&] { var.set(var.get() + 10); }, ctx);
  TimerHandle h3 = t.loop.call_at(t.loop.time() + 1, [&] { seen.push_back(var.get()); }, ctx);
  Handle h4 = t.loop.call_soon_threadsafe([&] { var.set(var.get() + 100); }, ctx);
  t.loop.run_until_complete(asyncio::sleep(2));
  EXPECT_EQ(seen, std::vector<int>{111});
  EXPECT_EQ(ctx[var], 111);
  EXPECT_TRUE(h1.get_context() == ctx);
  EXPECT_TRUE(h2.get_context() == ctx);
  EXPECT_TRUE(h3.get_context() == ctx);
  EXPECT_TRUE(h4.get_context() == ctx);
  EXPECT_EQ(var.get(), 0);
}

TEST(HandleContext, CallSoonThreadsafeCopiesTheCallingThreadsContext) {
  ContextVar<std::string> var("var", "loop");
  TestLoop t(false);
  std::vector<std::string> seen;
  std::thread other([&] {
    var.set("other thread");
    t.loop.call_soon_threadsafe([&] {
      seen.push_back(var.get());
      t.loop.stop();
    });
  });
  other.join();
  t.loop.run_forever();
  EXPECT_EQ(seen, std::vector<std::string>{"other thread"});
  EXPECT_EQ(var.get(), "loop");
}

TEST(HandleContext, SignalHandlerRunsInACopyOfTheAddersContext) {
  // ≙ add_signal_handler's Handle(callback, args, loop, None): a copy made
  // when the handler is added, the same for every call.
  ContextVar<int> var("var", 0);
  TestLoop t(false);
  std::vector<int> seen;
  Context ctx;
  ctx.run([&] {
    var.set(5);
    t.loop.add_signal_handler(SIGUSR1, [&] {
      seen.push_back(var.get());
      var.set(var.get() + 1);
      t.loop.stop();
    });
  });
  for (int i = 0; i < 2; ++i) {
    t.loop.call_soon([] { std::raise(SIGUSR1); });
    t.loop.run_forever();
  }
  EXPECT_EQ(seen, (std::vector<int>{5, 6}));
  EXPECT_EQ(ctx[var], 5);
  EXPECT_EQ(var.get(), 0);
  t.loop.remove_signal_handler(SIGUSR1);
}

// ---- test_taskgroups.py -----------------------------------------------------

namespace {

Coroutine<> taskgroup_task_context(ContextVar<int> cvar) {
  co_await asyncio::task_group([&cvar](TaskGroup& g) -> Coroutine<> {
    Context ctx = copy_context();
    EXPECT_EQ(ctx.get(cvar), std::nullopt);
    Task<> t1 = g.create_task(set_after_yield(cvar, 1), ctx);
    co_await t1;
    EXPECT_EQ(ctx.get(cvar), 1);
    Task<> t2 = g.create_task(set_after_yield(cvar, 2), "named", ctx);
    co_await t2;
    EXPECT_EQ(ctx.get(cvar), 2);
    EXPECT_EQ(t2.get_name(), "named");
  });
}

}  // namespace

TEST(TaskGroupContext, test_taskgroup_task_context) {
  ContextVar<int> cvar("cvar");
  run_test(taskgroup_task_context(cvar));
}

// ---- test_runners.py --------------------------------------------------------

namespace {

Coroutine<int> f_keeps(ContextVar<int> cvar, int val) {
  const int old = cvar.get();
  co_await asyncio::sleep(0);
  cvar.set(val);
  co_return old;
}

Coroutine<Context> get_context_coro() { co_return copy_context(); }

}  // namespace

TEST(RunnerContext, test_run_keeps_context) {
  ContextVar<int> cvar("cvar", -1);
  Runner runner(LoopOptions{.virtual_time = true});
  EXPECT_EQ(runner.run(f_keeps(cvar, 1)), -1);
  EXPECT_EQ(runner.run(f_keeps(cvar, 2)), 1);
  EXPECT_EQ(runner.run(get_context_coro()).get(cvar), 2);
  runner.close();
  EXPECT_EQ(cvar.get(), -1);
}

TEST(RunnerContext, RunWithContextParameter) {
  ContextVar<int> cvar("cvar", -1);
  Context ctx;
  Runner runner(LoopOptions{.virtual_time = true});
  EXPECT_EQ(runner.run(f_keeps(cvar, 5), ctx), -1);
  EXPECT_EQ(ctx[cvar], 5);
  EXPECT_EQ(runner.run(f_keeps(cvar, 6)), -1);  // the runner's own context
  runner.close();
}

TEST(RunnerContext, AsyncioRunRunsInACopy) {
  ContextVar<int> cvar("cvar", -1);
  const int seen = Context().run([&] {
    cvar.set(4);
    return asyncio::run(f_keeps(cvar, 9));
  });
  EXPECT_EQ(seen, 4);
  EXPECT_EQ(cvar.get(), -1);
}

// ---- test_threads.py (catalogue 357) ---------------------------------------

namespace {

Coroutine<std::string> to_thread_contextvars(ContextVar<std::string> test_ctx) {
  test_ctx.set("parrot");
  auto get_ctx = [&test_ctx] { return test_ctx.get(); };
  std::string result = co_await to_thread(get_ctx);
  co_return result;
}

Coroutine<int> to_thread_sets(ContextVar<int> var) {
  var.set(1);
  auto body = [&var] {
    var.set(2);  // in the worker's copy only
    return var.get();
  };
  int in_thread = co_await to_thread(body);
  EXPECT_EQ(var.get(), 1);
  co_return in_thread;
}

Coroutine<std::string> run_in_executor_contextvars(ContextVar<std::string> var) {
  var.set("spam");
  auto get = [&var] { return var.get("unset"); };
  Future<std::string> in_worker = get_running_loop().run_in_executor(nullptr, get);
  std::string seen = co_await in_worker;
  co_return seen;
}

}  // namespace

TEST(Threads, RunInExecutorRunsInACopyOfTheCallersContext) {
  ContextVar<std::string> var("var");
  EXPECT_EQ(run_test(run_in_executor_contextvars(var), false), "spam");
  EXPECT_EQ(var.get("unset"), "unset");
}

TEST(Threads, Cat357_test_to_thread_contextvars) {
  ContextVar<std::string> test_ctx("test_ctx");
  EXPECT_EQ(run_test(to_thread_contextvars(test_ctx), false), "parrot");
  EXPECT_THROW(test_ctx.get(), LookupError);
}

TEST(Threads, ToThreadSetsOnlyItsCopy) {
  ContextVar<int> var("var", 0);
  EXPECT_EQ(run_test(to_thread_sets(var), false), 2);
}
