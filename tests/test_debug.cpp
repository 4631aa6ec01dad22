// asyncio-cpp: SPDX-License-Identifier: MIT
// Debug mode, get_stack()/print_stack(), and 3.14's call graph. Ports of the
// debug-mode cases of CPython's test_base_events.py, test_tasks.py,
// test_futures.py, test_runners.py, and of 3.14's test_graph.py.
#include "asyncio_test.hpp"

#include <asyncio/graph.hpp>

#include <fnmatch.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using asyncio::Coroutine;
using asyncio::EventLoop;
using asyncio::LoopOptions;
using asyncio_test::TestLoop;

namespace {

constexpr const char* non_threadsafe =
    "Non-thread-safe operation invoked on an event loop other than the current one";

/// ASYNCIO_DEBUG set (or unset, for null) for the length of a scope.
class DebugEnv {
 public:
  explicit DebugEnv(const char* value) {
    if (const char* old = std::getenv("ASYNCIO_DEBUG")) old_ = old, had_ = true;
    if (value)
      ::setenv("ASYNCIO_DEBUG", value, 1);
    else
      ::unsetenv("ASYNCIO_DEBUG");
  }
  ~DebugEnv() {
    if (had_)
      ::setenv("ASYNCIO_DEBUG", old_.c_str(), 1);
    else
      ::unsetenv("ASYNCIO_DEBUG");
  }

 private:
  std::string old_;
  bool had_ = false;
};

/// The whole of `text` matches the shell pattern (`*` is any text, `\\*` a
/// star). (std::regex trips GCC 12's -Wmaybe-uninitialized under ASan.)
bool matches(const std::string& text, const std::string& pattern) {
  return ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

Coroutine<> nothing() { co_return; }

}  // namespace

// ---- test_base_events.py -------------------------------------------------

TEST(BaseEventLoop, test_set_debug) {
  DebugEnv env(nullptr);
  TestLoop t;
  EXPECT_FALSE(t.loop.get_debug());
  t.loop.set_debug(true);
  EXPECT_TRUE(t.loop.get_debug());
  t.loop.set_debug(false);
  EXPECT_FALSE(t.loop.get_debug());
}

TEST(BaseEventLoop, test_env_var_debug) {
  {
    DebugEnv env(nullptr);
    EXPECT_FALSE(EventLoop().get_debug());
  }
  {
    DebugEnv env("");
    EXPECT_FALSE(EventLoop().get_debug());
  }
  {
    DebugEnv env("1");
    EXPECT_TRUE(EventLoop().get_debug());
    // An explicit choice wins over the environment (≙ run(debug=False)).
    EXPECT_FALSE(EventLoop(LoopOptions{.debug = false}).get_debug());
  }
  EXPECT_TRUE(EventLoop(LoopOptions{.debug = true}).get_debug());
}

TEST(BaseEventLoop, test_slow_callback_duration_default) {
  TestLoop t;
  EXPECT_DOUBLE_EQ(t.loop.slow_callback_duration(), 0.1);
  t.loop.set_slow_callback_duration(0.5);
  EXPECT_DOUBLE_EQ(t.loop.slow_callback_duration(), 0.5);
  EventLoop real;
  EXPECT_THROW_MSG(real.advance_time(1), asyncio::RuntimeError, "advance_time() needs a virtual_time loop");
}

namespace {

/// ≙ test_check_thread's check_thread(): what call_soon, call_later,
/// call_at and create_task threw, called from this (another) thread.
std::vector<std::string> calls_from_this_thread(EventLoop& loop) {
  std::vector<std::string> errors;
  auto attempt = [&](auto f) {
    try {
      f();
      errors.push_back("");
    } catch (const asyncio::RuntimeError& e) {
      errors.push_back(e.what());
    }
  };
  attempt([&] { loop.call_soon([] {}); });
  attempt([&] { loop.call_later(60, [] {}); });
  attempt([&] { loop.call_at(loop.time() + 60, [] {}); });
  attempt([&] { (void)loop.create_task(nothing()); });
  return errors;
}

/// Runs calls_from_this_thread() in a thread while `loop` runs. The loop's
/// thread waits (in a callback) for that thread to end, so that the calls
/// that are let through do not race with the loop (TSan).
std::vector<std::string> check_in_thread(EventLoop& loop, bool create_loop) {
  std::vector<std::string> errors;
  loop.call_soon([&] {
    std::thread th([&] {
      if (create_loop) {
        EventLoop loop2;
        asyncio::set_event_loop(&loop2);
        errors = calls_from_this_thread(loop);
        asyncio::set_event_loop(nullptr);
      } else {
        errors = calls_from_this_thread(loop);
      }
    });
    th.join();
    loop.stop();
  });
  loop.run_forever();
  return errors;
}

}  // namespace

TEST(BaseEventLoop, test_check_thread) {
  for (bool create_loop : {false, true}) {
    TestLoop t;
    t.loop.set_debug(true);
    const std::vector<std::string> refused(4, non_threadsafe);
    EXPECT_EQ(check_in_thread(t.loop, create_loop), refused);
    // The check is disabled when debug mode is.
    t.loop.set_debug(false);
    EXPECT_EQ(check_in_thread(t.loop, create_loop), std::vector<std::string>(4, ""));
    t.run_briefly();  // what was let through runs
  }
}

TEST(BaseEventLoop, test_check_thread_not_running) {
  // No thread runs the loop: nothing to check (≙ _thread_id is None).
  TestLoop t;
  t.loop.set_debug(true);
  std::vector<std::string> errors;
  std::thread th([&] { errors = calls_from_this_thread(t.loop); });
  th.join();
  EXPECT_EQ(errors, std::vector<std::string>(4, ""));
  t.run_briefly();
}

TEST(BaseEventLoop, test_log_slow_callbacks) {
  TestLoop t;
  t.loop.set_debug(true);
  t.loop.set_slow_callback_duration(0.0);
  // A slow callback.
  testing::internal::CaptureStderr();
  t.loop.call_soon([&] { t.loop.stop(); });
  t.loop.run_forever();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(matches(err, "Executing <Handle created at *test_debug.cpp:*> took * seconds\n")) << err;
  // A slow task.
  testing::internal::CaptureStderr();
  auto stop_loop_coro = [](EventLoop& loop) -> Coroutine<> {
    loop.stop();
    co_return;
  };
  (void)t.loop.create_task(stop_loop_coro(t.loop), "stop_loop_coro");
  t.loop.run_forever();
  err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(matches(err, "Executing <Task finished name='stop_loop_coro' created at *test_debug.cpp:*> "
                           "took * seconds\n"))
      << err;
}

TEST(BaseEventLoop, test_slow_callback_on_virtual_time) {
  // The callback "takes" 0.205 s of the virtual clock: reported with the
  // time it took; one that takes less than slow_callback_duration is not.
  TestLoop t;
  t.loop.set_debug(true);
  testing::internal::CaptureStderr();
  const int line = __LINE__ + 1;
  t.loop.call_soon([&] { t.loop.advance_time(0.205); });
  t.loop.call_soon([&] { t.loop.advance_time(0.05); });
  t.run_passes(1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "Executing <Handle created at " __FILE__ ":" + std::to_string(line) + "> took 0.205 seconds\n");
}

TEST(BaseEventLoop, test_slow_callback_not_in_release_mode) {
  TestLoop t;
  testing::internal::CaptureStderr();
  t.loop.call_soon([&] { t.loop.advance_time(5); });
  t.run_passes(1);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

namespace {

Coroutine<> slow_after_wakeup(EventLoop& loop, asyncio::Future<> fut) {
  co_await fut;
  loop.advance_time(0.25);
  co_await fut;  // done: no suspension
  co_await asyncio::sleep(0);
}

}  // namespace

TEST(BaseEventLoop, test_slow_task_step_after_wakeup) {
  // A task woken by a future: the step is reported with the task's repr
  // (≙ _format_handle of the Task.__wakeup handle), as it is after the step.
  TestLoop t;
  t.loop.set_debug(true);
  asyncio::Future<> fut = t.loop.create_future();
  const int line = __LINE__ + 1;
  auto task = t.loop.create_task(slow_after_wakeup(t.loop, fut), "slow");
  t.run_passes(2);  // suspended on fut
  EXPECT_TRUE(matches(task.repr(), "<Task pending name='slow' wait_for=<Future pending created at *test_debug.cpp:*> "
                                   "created at *test_debug.cpp:*>"))
      << task.repr();
  testing::internal::CaptureStderr();
  fut.set_result();
  t.run_passes(2);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "Executing <Task pending name='slow' created at " __FILE__ ":" + std::to_string(line) +
                     "> took 0.250 seconds\n");
  t.loop.run_until_complete(task);
}

TEST(BaseEventLoop, test_set_exc_handler_custom) {
  // Debug mode: the handle's creation site is in the context.
  TestLoop t;
  t.loop.set_debug(true);
  const int line = __LINE__ + 1;
  t.loop.call_soon([] { throw std::runtime_error("zero_error"); });
  t.run_passes(1);
  ASSERT_EQ(t.log.calls.size(), 1u);
  const asyncio::ExceptionContext& c = t.log.calls[0];
  EXPECT_TRUE(matches(c.message, "Exception in callback <Handle created at *test_debug.cpp:*>")) << c.message;
  ASSERT_TRUE(c.source_traceback);
  EXPECT_EQ(c.source_traceback->line(), static_cast<unsigned>(line));
  EXPECT_STREQ(c.source_traceback->file_name(), __FILE__);
  // The default handler prints it as "Object created at".
  testing::internal::CaptureStderr();
  t.loop.default_exception_handler(c);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("source_traceback: Object created at (most recent call last):\n  File \"" __FILE__
                     "\", line " +
                     std::to_string(line) + ", in "),
            std::string::npos)
      << err;
  // Without debug mode, nothing is recorded.
  t.loop.set_debug(false);
  t.loop.call_soon([] { throw std::runtime_error("zero_error"); });
  t.run_passes(1);
  ASSERT_EQ(t.log.calls.size(), 2u);
  EXPECT_FALSE(t.log.calls[1].source_traceback);
  EXPECT_EQ(t.log.calls[1].message, "Exception in callback <Handle>");
}

// ---- test_tasks.py ----------------------------------------------------------

TEST(TaskTests, test_task_source_traceback) {
  TestLoop t;
  t.loop.set_debug(true);
  auto task = t.loop.create_task(nothing());
  const unsigned line = __LINE__ - 1;
  auto tb = task.source_traceback();
  ASSERT_TRUE(tb);
  EXPECT_STREQ(tb->file_name(), __FILE__);
  EXPECT_EQ(tb->line(), line);
  EXPECT_NE(std::string(tb->function_name()).find("test_task_source_traceback"), std::string::npos)
      << tb->function_name();
  t.loop.run_until_complete(task);
  // Debug mode off: nothing recorded.
  t.loop.set_debug(false);
  auto plain = t.loop.create_task(nothing());
  EXPECT_FALSE(plain.source_traceback());
  t.loop.run_until_complete(plain);
}

TEST(TaskTests, test_task_source_traceback_free_function) {
  // asyncio::create_task and TaskGroup.create_task record their caller too.
  TestLoop t;
  t.loop.set_debug(true);
  unsigned line = 0, group_line = 0;
  asyncio::TaskRef a, b;
  t.loop.run_until_complete([&]() -> Coroutine<> {
    a = asyncio::create_task(nothing());
    line = __LINE__ - 1;
    co_await asyncio::task_group([&](asyncio::TaskGroup& tg) {
      b = tg.create_task(nothing());
      group_line = __LINE__ - 1;
    });
    co_await asyncio::sleep(0);
  }());
  ASSERT_TRUE(a.source_traceback() && b.source_traceback());
  EXPECT_EQ(a.source_traceback()->line(), line);
  EXPECT_EQ(b.source_traceback()->line(), group_line);
}

TEST(TaskTests, test_task_repr) {
  // Debug mode adds wait_for= and created at (≙ test_task_repr's
  // "created at" and the coro's suspension point).
  TestLoop t;
  t.loop.set_debug(true);
  asyncio::Event ev;
  auto waiter = [](asyncio::Event& e) -> Coroutine<> { (void)co_await e.wait(); };
  auto task = t.loop.create_task(waiter(ev), "notmuch");
  const std::string site = std::string(" created at ") + __FILE__ + ":" + std::to_string(__LINE__ - 1);
  EXPECT_EQ(task.repr(), "<Task pending name='notmuch'" + site + ">");
  t.run_briefly();
  EXPECT_TRUE(matches(task.repr(), "<Task pending name='notmuch' wait_for=<Future pending> created at *")) << task.repr();
  ev.set();
  t.loop.run_until_complete(task);
  EXPECT_EQ(task.repr(), "<Task finished name='notmuch'" + site + ">");
}

TEST(TaskTests, test_log_destroyed_pending_task) {
  TestLoop t;
  t.loop.set_debug(true);
  asyncio::Future<> fut = t.loop.create_future();
  auto kill_me = [](asyncio::Future<> f) -> Coroutine<> { co_await f; };
  unsigned line;
  {
    auto task = t.loop.create_task(kill_me(fut));
    line = __LINE__ - 1;
    t.run_briefly();
  }
  t.loop.close();
  ASSERT_EQ(t.log.calls.size(), 1u);
  EXPECT_EQ(t.log.calls[0].message, "Task was destroyed but it is pending!");
  ASSERT_TRUE(t.log.calls[0].source_traceback);
  EXPECT_EQ(t.log.calls[0].source_traceback->line(), line);
}

TEST(TaskTests, test_task_exception_never_retrieved_debug) {
  TestLoop t;
  t.loop.set_debug(true);
  auto fails = []() -> Coroutine<> {
    throw std::runtime_error("boom");
    co_return;
  };
  unsigned line;
  {
    auto task = t.loop.create_task(fails());
    line = __LINE__ - 1;
    t.run_briefly();
  }
  ASSERT_EQ(t.log.calls.size(), 1u);
  EXPECT_EQ(t.log.calls[0].message, "Task exception was never retrieved");
  ASSERT_TRUE(t.log.calls[0].source_traceback);
  EXPECT_EQ(t.log.calls[0].source_traceback->line(), line);
  EXPECT_NE(t.log.calls[0].task.find(" created at "), std::string::npos) << t.log.calls[0].task;
}

namespace {

Coroutine<> bar(asyncio::Future<> ev) { co_await ev; }

Coroutine<> foo(asyncio::Future<> ev, std::coroutine_handle<>& bar_frame) {
  Coroutine<> c = bar(ev);
  bar_frame = c.handle();
  co_await c;
}

}  // namespace

TEST(TaskTests, test_get_coro) {
  TestLoop t;
  Coroutine<> coro = nothing();
  const std::coroutine_handle<> frame = coro.handle();
  auto task = t.loop.create_task(std::move(coro));
  EXPECT_EQ(task.get_coro(), frame);
  EXPECT_EQ(asyncio::TaskRef(task).get_coro(), frame);  // untyped: the same frame
  t.loop.run_until_complete(task);
  EXPECT_TRUE(task.get_coro().done());
}

TEST(TaskTests, test_get_stack) {
  TestLoop t;
  asyncio::Future<> ev = t.loop.create_future();
  std::coroutine_handle<> bar_frame;
  auto task = t.loop.create_task(foo(ev, bar_frame), "T");
  // Before its first step: the top frame only.
  EXPECT_EQ(task.get_stack(), std::vector<std::coroutine_handle<>>{task.get_coro()});
  t.run_briefly();
  // Suspended in bar(): foo's frame, then bar's.
  const std::vector<std::coroutine_handle<>> both{task.get_coro(), bar_frame};
  EXPECT_EQ(task.get_stack(), both);
  EXPECT_EQ(task.get_stack(1), std::vector<std::coroutine_handle<>>{bar_frame});
  // Inside its own step, only the top frame is known.
  std::vector<std::coroutine_handle<>> running;
  auto self = t.loop.create_task([](std::vector<std::coroutine_handle<>>& out) -> Coroutine<> {
    out = asyncio::current_task().get_stack();
    co_return;
  }(running));
  t.loop.run_until_complete(self);
  EXPECT_EQ(running, std::vector<std::coroutine_handle<>>{self.get_coro()});
  ev.set_result();
  t.loop.run_until_complete(task);
  EXPECT_TRUE(task.get_stack().empty());
}

TEST(TaskTests, test_print_stack) {
  TestLoop t;
  asyncio::Future<> ev = t.loop.create_future();
  std::coroutine_handle<> bar_frame;
  auto task = t.loop.create_task(foo(ev, bar_frame), "T");
  t.run_briefly();
  std::ostringstream out;
  task.print_stack({}, &out);
  std::ostringstream expected;
  expected << "Stack for <Task pending name='T'> (most recent call last):\n"
           << "  <coroutine " << task.get_coro().address() << ">\n"
           << "  <coroutine " << bar_frame.address() << ">\n";
  EXPECT_EQ(out.str(), expected.str());
  ev.set_result();
  t.loop.run_until_complete(task);
  std::ostringstream done;
  task.print_stack({}, &done);
  EXPECT_EQ(done.str(), "No stack for <Task finished name='T'>\n");
}

// ---- test_futures.py --------------------------------------------------------

TEST(FutureTests, test_future_source_traceback) {
  TestLoop t;
  t.loop.set_debug(true);
  auto future = t.loop.create_future<int>();
  const unsigned line = __LINE__ - 1;
  auto tb = future.source_traceback();
  ASSERT_TRUE(tb);
  EXPECT_STREQ(tb->file_name(), __FILE__);
  EXPECT_EQ(tb->line(), line);
  EXPECT_NE(std::string(tb->function_name()).find("test_future_source_traceback"), std::string::npos);
  t.loop.set_debug(false);
  EXPECT_FALSE(t.loop.create_future().source_traceback());
}

namespace {

/// ≙ check_future_exception_never_retrieved(debug).
void check_future_exception_never_retrieved(bool debug) {
  TestLoop t;
  t.loop.set_debug(debug);
  unsigned line;
  {
    auto future = t.loop.create_future();
    line = __LINE__ - 1;
    future.set_exception(std::bad_alloc());
  }
  t.run_briefly();
  ASSERT_EQ(t.log.calls.size(), 1u);
  const asyncio::ExceptionContext& c = t.log.calls[0];
  EXPECT_EQ(c.message, "Future exception was never retrieved");
  EXPECT_EQ(static_cast<bool>(c.source_traceback), debug);
  testing::internal::CaptureStderr();
  t.loop.default_exception_handler(c);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(matches(err, "Future exception was never retrieved\n*")) << err;
  const std::string site = std::string("File \"") + __FILE__ + "\", line " + std::to_string(line);
  EXPECT_EQ(err.find("Object created at (most recent call last):\n  " + site) != std::string::npos, debug) << err;
  EXPECT_EQ(c.future.find(" created at ") != std::string::npos, debug) << c.future;
}

}  // namespace

TEST(FutureTests, test_future_exception_never_retrieved) { check_future_exception_never_retrieved(false); }
TEST(FutureTests, test_future_exception_never_retrieved_debug) { check_future_exception_never_retrieved(true); }

// ---- test_runners.py ------------------------------------------------------

namespace {

Coroutine<> expect_debug(bool expected) {
  EXPECT_EQ(asyncio::get_running_loop().get_debug(), expected);
  co_return;
}

}  // namespace

TEST(RunTests, test_asyncio_run_debug) {
  DebugEnv none(nullptr);
  asyncio::run(expect_debug(false), {.debug = false});
  asyncio::run(expect_debug(true), {.debug = true});
  {
    DebugEnv on("1");  // ≙ patching coroutines._is_debug_mode to True
    asyncio::run(expect_debug(true));
    asyncio::run(expect_debug(false), {.debug = false});
  }
  asyncio::run(expect_debug(true), {.debug = true});
  asyncio::run(expect_debug(false));
}

TEST(RunnerTests, test_debug) {
  asyncio::Runner runner(LoopOptions{.debug = true});
  auto f = []() -> Coroutine<bool> { co_return asyncio::get_running_loop().get_debug(); };
  EXPECT_TRUE(runner.run(f()));
  runner.close();
}

// ---- 3.14's test_graph.py ---------------------------------------------------

namespace {

Coroutine<> a2(asyncio::Future<> fut) { co_await fut; }

Coroutine<> a1(asyncio::Future<> fut, std::coroutine_handle<>& a2_frame) {
  Coroutine<> c = a2(fut);
  a2_frame = c.handle();
  co_await c;
}

Coroutine<> b1(asyncio::Future<> fut) { co_await fut; }

std::vector<std::coroutine_handle<>> frames(const asyncio::FutureCallGraph& g) {
  std::vector<std::coroutine_handle<>> out;
  for (const auto& e : g.call_stack) out.push_back(e.frame);
  return out;
}

}  // namespace

TEST(CallStack, test_stack_future) {
  TestLoop t;
  asyncio::Future<> fut = t.loop.create_future();
  std::coroutine_handle<> a2_frame;
  auto task_a = t.loop.create_task(a1(fut, a2_frame), "task A");
  auto task_b = t.loop.create_task(b1(fut), "task B");
  t.run_passes(5);
  asyncio::FutureCallGraph g = asyncio::capture_call_graph(fut);
  EXPECT_EQ(g.future, fut.native());
  EXPECT_FALSE(g.task);
  EXPECT_TRUE(g.call_stack.empty());
  ASSERT_EQ(g.awaited_by.size(), 2u);
  EXPECT_EQ(g.awaited_by[0].task, task_a);
  // Innermost first: a2, then a1.
  EXPECT_EQ(frames(g.awaited_by[0]), (std::vector<std::coroutine_handle<>>{a2_frame, task_a.get_coro()}));
  EXPECT_EQ(g.awaited_by[1].task, task_b);
  EXPECT_EQ(frames(g.awaited_by[1]), std::vector<std::coroutine_handle<>>{task_b.get_coro()});
  EXPECT_TRUE(g.awaited_by[0].awaited_by.empty());
  fut.set_result();
  t.loop.run_until_complete(task_a);
  t.loop.run_until_complete(task_b);
  // Nobody waits any more.
  EXPECT_TRUE(asyncio::capture_call_graph(fut).awaited_by.empty());
}

namespace {

Coroutine<> c4(asyncio::Future<> ev) { co_await ev; }
Coroutine<> c3(asyncio::Future<> ev) { co_await c4(ev); }
Coroutine<> c2(asyncio::Future<> ev) { co_await c3(ev); }
Coroutine<> c1(asyncio::Task<> task) { co_await task; }

}  // namespace

TEST(CallStack, test_stack_task) {
  TestLoop t;
  asyncio::Future<> ev = t.loop.create_future();
  auto root = t.loop.create_task(c2(ev), "c2_root");
  auto sub1 = t.loop.create_task(c1(root), "sub_main_1");
  auto sub2 = t.loop.create_task(c1(root), "sub_main_2");
  t.run_passes(3);
  asyncio::FutureCallGraph g = asyncio::capture_call_graph(root);
  EXPECT_EQ(g.task, root);
  ASSERT_EQ(g.call_stack.size(), 3u);  // c4, c3, c2
  EXPECT_EQ(g.call_stack.back().frame, root.get_coro());
  ASSERT_EQ(g.awaited_by.size(), 2u);
  EXPECT_EQ(g.awaited_by[0].task, sub1);
  EXPECT_EQ(g.awaited_by[1].task, sub2);
  EXPECT_EQ(frames(g.awaited_by[0]), std::vector<std::coroutine_handle<>>{sub1.get_coro()});

  // limit: positive keeps the innermost frames, negative the outermost,
  // 0 none.
  EXPECT_EQ(asyncio::capture_call_graph(root, {.limit = 1}).call_stack.size(), 1u);
  EXPECT_NE(asyncio::capture_call_graph(root, {.limit = 1}).call_stack[0].frame, root.get_coro());
  EXPECT_EQ(asyncio::capture_call_graph(root, {.limit = -1}).call_stack[0].frame, root.get_coro());
  EXPECT_TRUE(asyncio::capture_call_graph(root, {.limit = 0}).call_stack.empty());
  EXPECT_EQ(asyncio::capture_call_graph(root, {.limit = 0}).awaited_by.size(), 2u);

  // format_call_graph(): CPython's shape.
  const std::string text = asyncio::format_call_graph(root);
  const std::string frame = "  |   <coroutine 0x*>\n";
  const std::string pattern = "\\* Task(name='c2_root', id=0x*)\n  + Call stack:\n" + frame + frame + frame +
                              "  + Awaited by:\n    \\* Task(name='sub_main_1', id=0x*)\n      + Call stack:\n    " +
                              frame + "    \\* Task(name='sub_main_2', id=0x*)\n      + Call stack:\n" +
                              "      |   <coroutine 0x*>";
  EXPECT_TRUE(matches(text, pattern)) << text;
  std::ostringstream out;
  asyncio::print_call_graph(root, {}, &out);
  EXPECT_EQ(out.str(), text + "\n");

  ev.set_result();
  t.loop.run_until_complete(sub1);
  t.loop.run_until_complete(sub2);
}

TEST(CallStack, test_capture_current_task) {
  EXPECT_THROW_MSG((void)asyncio::capture_call_graph(), asyncio::RuntimeError,
                   "capture_call_graph() is called outside of a running event loop and no *future* to introspect "
                   "was provided");
  TestLoop t;
  // From a plain callback: no current task.
  bool none = false;
  t.loop.call_soon([&] { none = !asyncio::capture_call_graph(); });
  t.run_passes(1);
  EXPECT_TRUE(none);
  std::string text;
  auto task = t.loop.create_task(
      [](std::string& out) -> Coroutine<> {
        out = asyncio::format_call_graph();
        co_return;
      }(text),
      "me");
  t.loop.run_until_complete(task);
  EXPECT_TRUE(matches(text, "\\* Task(name='me', id=0x*)\n  + Call stack:\n  |   <coroutine 0x*>"))
      << text;
}

// ---- ResourceWarning ------------------------------------------------------

TEST(BaseEventLoop, test_unclosed_server_warning) {
  // Debug mode: a server left open at close() is reported (≙ the
  // ResourceWarning of an unclosed transport or server).
  for (bool debug : {false, true}) {
    TestLoop t(false);
    t.loop.set_debug(debug);
    auto handler = [](asyncio::StreamReader, asyncio::StreamWriter) -> Coroutine<> { co_return; };
    asyncio::Server server = t.loop.run_until_complete(asyncio::start_server(handler, "127.0.0.1", 0));
    testing::internal::CaptureStderr();
    t.loop.close();
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(matches(err, "*ResourceWarning: unclosed server <Server socket fd=*>*"), debug) << err;
  }
}

TEST(BaseEventLoop, test_unclosed_transport_warning) {
  // A connection neither side closed: both transports are reported.
  TestLoop t(false);
  t.loop.set_debug(true);
  std::vector<asyncio::StreamWriter> kept;
  auto handler = [&kept](asyncio::StreamReader, asyncio::StreamWriter w) -> Coroutine<> {
    kept.push_back(w);
    co_return;
  };
  asyncio::Server server = t.loop.run_until_complete(asyncio::start_server(handler, "127.0.0.1", 0));
  const int port = server.sockets().at(0).getsockname().port;
  auto connection = t.loop.run_until_complete(asyncio::open_connection("127.0.0.1", port));  // kept open
  t.run_passes(5);
  server.close();
  t.run_passes(2);
  testing::internal::CaptureStderr();
  t.loop.close();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(matches(err, "ResourceWarning: unclosed transport <SocketTransport fd=*>\n"
                           "ResourceWarning: unclosed transport <SocketTransport fd=*>\n"))
      << err;
}

TEST(BaseEventLoop, test_unclosed_subprocess_warning) {
  TestLoop t(false);
  t.loop.set_debug(true);
  const std::vector<std::string> args{"10"};
  asyncio::Process proc = t.loop.run_until_complete(asyncio::create_subprocess_exec("sleep", args));
  testing::internal::CaptureStderr();
  t.loop.close();  // kills and collects it
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "ResourceWarning: unclosed transport <SubprocessTransport pid=" + std::to_string(proc.pid()) +
                     " running>\n");
}
