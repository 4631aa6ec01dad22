// asyncio-cpp: SPDX-License-Identifier: MIT
// Task<T>: a Future that drives a Coroutine. ≙ Lib/asyncio/tasks.py
// (sleep and gather, also in tasks.py, have headers of their own.)
#ifndef ASYNCIO_TASKS_HPP
#define ASYNCIO_TASKS_HPP

#include <asyncio/contextvars.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/futures.hpp>

#include <coroutine>
#include <functional>
#include <iosfwd>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

/// An untyped reference to a task: what current_task() and all_tasks()
/// give, and the base of Task<T>. Compares equal to the Task<T> it refers to.
class TaskRef : public detail::CoreRef<detail::TaskCore> {
 public:
  TaskRef() noexcept = default;

  /// Number of pending cancellation requests: cancel() calls minus
  /// uncancel() calls. Not reset when the task finishes.
  int cancelling() const { return live()->cancelling(); }
  /// Decrements cancelling() (never below 0) and returns it; at 0 a
  /// cancellation not yet delivered is withdrawn.
  int uncancel() { return live()->uncancel(); }
  /// The name: the one given to create_task, or `Task-<N>`.
  std::string get_name() const { return live()->get_name(); }
  void set_name(std::string name) { live()->set_name(std::move(name)); }
  template <class V>
    requires std::is_arithmetic_v<V>
  void set_name(V v) {
    set_name(std::to_string(v));
  }
  /// Always RuntimeError("Task does not support set_result operation").
  template <class... A>
  [[noreturn]] void set_result(A&&...) const {
    unsupported("set_result");
  }
  /// Always RuntimeError("Task does not support set_exception operation").
  template <class E>
  [[noreturn]] void set_exception(E&&) const {
    unsupported("set_exception");
  }
  /// `<Task finished name='Task-1'>`, as CPython's repr. In debug mode a
  /// pending task adds `wait_for=<...>` (what it is suspended on) and
  /// every task `created at file:line`.
  std::string repr() const { return live()->repr(); }
  /// The context the task runs in: a copy of its creator's, or the one
  /// given to create_task (≙ Task.get_context()).
  Context get_context() const;

  /// The task's coroutine: the handle of its top frame (≙ get_coro(); the
  /// frame lives as long as the task; done() on it is true once the
  /// coroutine has finished).
  std::coroutine_handle<> get_coro() const;
  /// The frames of the suspended task, outermost (get_coro()) first, down
  /// to the frame that awaits (≙ get_stack(), which shows only the top
  /// frame; every coroutine a task awaits is a frame of its own here).
  /// Empty once done; only the top frame while the task runs. With
  /// `limit`, the last `limit` frames (the innermost).
  std::vector<std::coroutine_handle<>> get_stack(std::optional<int> limit = {}) const;
  /// Prints "Stack for <Task ...> (most recent call last):" and a line per
  /// frame of get_stack() to `file` (stderr if null) (≙ print_stack()).
  void print_stack(std::optional<int> limit = {}, std::ostream* file = nullptr) const;

  detail::TaskCore* core() const noexcept { return p_; }
  /// Adopts one reference.
  explicit TaskRef(detail::TaskCore* p) noexcept : CoreRef(p) {}

 private:
  [[noreturn]] static void unsupported(const char* what);
};

/// A scheduled coroutine (≙ asyncio.Task): eager, shared, awaitable any
/// number of times by any number of tasks, each time giving a reference to
/// the same stored result (or rethrowing the same exception object). The
/// loop keeps a pending task alive: dropping every Task handle never stops
/// or leaks it.
template <class T>
class Task : public TaskRef {
 public:
  using value_type = T;
  Task() noexcept = default;

  /// The result. InvalidStateError("Result is not set.") while pending,
  /// CancelledError if cancelled, else the coroutine's exception.
  std::add_lvalue_reference_t<T> result() const {
    live()->check_result();
    return state()->value();
  }
  /// The handle of the task's top frame (see TaskRef::get_coro()).
  std::coroutine_handle<> get_coro() const {
    live();
    return std::coroutine_handle<detail::Promise<T>>::from_promise(*state());
  }
  /// Registers `fn(task)` to run through the loop when the task is done.
  CallbackId add_done_callback(std::function<void(Task<T>)> fn) {
    return add_user_callback<Task<T>>(std::move(fn));
  }
  /// Suspends until the task is done (at once if it is); gives result().
  auto operator co_await() const& {
    live();
    auto* s = state();
    return detail::FutureAwaiter(s, [s]() -> decltype(auto) { return s->value(); });
  }
  /// Awaiting a temporary (`co_await create_task(...)`) gives the value
  /// itself, moved out when nobody else holds the task.
  auto operator co_await() && {
    live();
    auto* s = state();
    return detail::FutureAwaiter(s, [s] { return detail::take_awaited(s); });
  }

  detail::Promise<T>* state() const noexcept { return static_cast<detail::Promise<T>*>(p_); }
  /// Adopts one reference.
  explicit Task(detail::Promise<T>* p) noexcept : TaskRef(p) {}
};

namespace detail {
LoopCore& running_core();
}

/// What EventLoop::create_task does with each new task (≙ the task
/// factory of loop.set_task_factory). C++ cannot take over the creation of
/// a Task<T> for every T, so a factory is the two things CPython's are used
/// for: eager first steps, and a hook that sees (and may rename) each task
/// before its first step.
struct TaskFactory {
  /// 3.12's eager_task_factory: create_task runs the coroutine at once, up
  /// to its first real suspension, when the loop is running; a coroutine
  /// that finishes without suspending gives a task that is already done.
  bool eager = false;
  /// Called with each new task before its first step (may throw: see
  /// EventLoop::launch_task).
  std::function<void(TaskRef)> on_create;
};

/// ≙ asyncio.eager_task_factory: `loop.set_task_factory(eager_task_factory)`.
inline const TaskFactory eager_task_factory{.eager = true, .on_create = {}};

/// Wraps `coro` in a Task on the running loop and schedules its first step
/// (the body starts on a later pass, after the caller suspends). Throws
/// RuntimeError("no running event loop") outside a loop.
template <class T>
[[gnu::always_inline]] inline Task<T> create_task(Coroutine<T> coro, std::string name = {},
                                                  std::source_location where = std::source_location::current()) {
  return detail::running_core().owner->start_task(std::move(coro), name, where);
}

/// create_task in `context` itself instead of a copy of the caller's
/// context (≙ `create_task(coro, context=ctx)`).
template <class T>
Task<T> create_task(Coroutine<T> coro, std::string name, const Context& context,
                    std::source_location where = std::source_location::current()) {
  return detail::running_core().owner->start_task(std::move(coro), name, &context, where);
}
template <class T>
Task<T> create_task(Coroutine<T> coro, const Context& context,
                    std::source_location where = std::source_location::current()) {
  return create_task(std::move(coro), std::string(), context, where);
}

/// create_task(q.get()), create_task(q.put(x)), create_task of a timeout
/// scope: an awaitable operation as a task, as Python takes any awaitable.
template <class A>
  requires detail::CoroutineOperation<A>
Task<typename detail::coroutine_of_t<A>::value_type> create_task(
    A&& op, std::string name = {}, std::source_location where = std::source_location::current()) {
  return create_task(detail::to_coroutine(std::forward<A>(op)), std::move(name), where);
}

/// Runs `f(args...)` as a task on the running loop, the task owning `f` and
/// copies of `args` (≙ Asio's co_spawn of a function object):
/// `create_task([=]() -> Coroutine<int> { co_return x; })` is correct
/// whatever happens to the lambda object the caller wrote, because the
/// task keeps its own until the coroutine has finished. Costs one more
/// coroutine frame than create_task(coro). `f` returns a Coroutine (or an
/// awaitable operation that converts to one).
template <class F, class... A>
  requires detail::CoroutineFunction<F, A...>
Task<typename detail::function_coroutine_t<F, A...>::value_type> create_task(F&& f, A&&... args) {
  return create_task(detail::owned_call(std::forward<F>(f), std::forward<A>(args)...));
}

/// ≙ asyncio.ensure_future: a coroutine (or an operation that converts to
/// one) becomes a task of get_event_loop() — which need not be running
/// yet: the task starts when it does —; a Task or Future is returned as it
/// is.
template <class T>
Task<T> ensure_future(Coroutine<T> coro) {
  return get_event_loop().create_task(std::move(coro));
}
template <class A>
  requires detail::CoroutineOperation<A>
Task<typename detail::coroutine_of_t<A>::value_type> ensure_future(A&& op) {
  return ensure_future(detail::to_coroutine(std::forward<A>(op)));
}
template <class T>
Task<T> ensure_future(Task<T> task) {
  return task;
}
template <class T>
Future<T> ensure_future(Future<T> fut) {
  return fut;
}

/// The task running now; empty when called from a plain callback. Throws
/// RuntimeError("no running event loop") outside a loop.
TaskRef current_task();
/// The task running now on `loop` (empty if none); works on an idle loop.
TaskRef current_task(EventLoop& loop);
/// The tasks of the running loop that are not done, the current one included.
std::vector<TaskRef> all_tasks();
std::vector<TaskRef> all_tasks(EventLoop& loop);

template <class T>
Task<T> EventLoop::create_task(Coroutine<T> coro, std::string name, std::source_location where) {
  return start_task(std::move(coro), name, where);
}

template <class F, class... A>
  requires detail::CoroutineFunction<F, A...>
Task<typename detail::function_coroutine_t<F, A...>::value_type> EventLoop::create_task(F&& f, A&&... args) {
  return create_task(detail::owned_call(std::forward<F>(f), std::forward<A>(args)...));
}

// Inlined into create_task's caller so that `where` (a constant address)
// is materialised only on the debug-mode branch: debug mode off, the
// creation site costs nothing (design-notes.md "Debug mode").
template <class T>
Task<T> EventLoop::create_task(Coroutine<T> coro, std::string name, const Context& context,
                               std::source_location where) {
  return start_task(std::move(coro), name, &context, where);
}

template <class T>
Task<T> EventLoop::start_task(Coroutine<T>&& coro, std::string& name, const Context* context,
                              std::source_location where) {
  if (!context) return start_task(std::move(coro), name, where);
  check_call();
  auto h = coro.release();
  h.promise().start(core_, h, name);
  h.promise().set_context(context->core());
  return launch_new<T>(h.promise(), where);
}

template <class T>
[[gnu::always_inline]] inline Task<T> EventLoop::start_task(Coroutine<T>&& coro, std::string& name,
                                                            std::source_location where) {
  check_call();
  auto h = coro.release();
  h.promise().start(core_, h, name);
  return launch_new<T>(h.promise(), where);
}

template <class T>
[[gnu::always_inline]] inline Task<T> EventLoop::launch_new(detail::TaskCore& p, std::source_location where) {
  Task<T> task(static_cast<detail::Promise<T>*>(&p));
  if (core_->task_hook)
    launch_task(p, where);
  else
    p.launch();
  return task;
}

template <class T>
decltype(auto) EventLoop::run_until_complete(const Future<T>& fut) {
  fut.done();  // throws for an empty handle
  run_until_done(*fut.state());
  return fut.result();
}

template <class T>
decltype(auto) EventLoop::run_until_complete(const Task<T>& task) {
  task.done();  // throws for an empty handle
  run_until_done(*task.state());
  return task.result();
}

template <class T>
T EventLoop::run_until_complete(Coroutine<T> coro) {
  check_runnable();  // before the task exists: a refused coroutine never runs
  Task<T> task = create_task(std::move(coro));
  try {
    run_until_done(*task.state());
  } catch (...) {
    // A fatal exception escaped the loop. The caller cannot reach this
    // task, so its copy of the exception is not "never retrieved".
    if (task.done()) task.state()->mark_retrieved();
    throw;
  }
  if constexpr (std::is_void_v<T>)
    task.result();
  else
    return std::move(task.result());
}

}  // namespace asyncio

#endif  // ASYNCIO_TASKS_HPP
