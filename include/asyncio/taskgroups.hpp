// asyncio-cpp: SPDX-License-Identifier: MIT
// TaskGroup: structured concurrency, a group of tasks that ends together.
// ≙ Lib/asyncio/taskgroups.py
#ifndef ASYNCIO_TASKGROUPS_HPP
#define ASYNCIO_TASKGROUPS_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/detail/composition.hpp>
#include <asyncio/events.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

class TaskGroup;

namespace detail {
struct TaskGroupAccess;
}

/// An asynchronous context manager holding a group of tasks
/// (≙ asyncio.TaskGroup). Use it through task_group() or async_with(): C++
/// has no `async with`, so the block is a callable given the group.
///
/// Tasks are added with create_task(). When the block ends, the group waits
/// for every task, including those added meanwhile. The first task to fail
/// with anything but CancelledError cancels the others and the block's
/// task (the block's current co_await throws CancelledError); once all are
/// done, the failures (and the block's own, last) are raised together as
/// ExceptionGroup("unhandled errors in a TaskGroup", ...). A task cancelled
/// on its own is not a failure. KeyboardInterrupt and SystemExit, from a
/// task or the block, are raised bare instead, after the tasks finished.
/// If the block's task is cancelled from outside, the tasks are cancelled
/// and awaited and CancelledError propagates, unless failures were
/// collected: the group then wins, and the cancellation stays pending for
/// the next co_await. The block's task ends with cancelling() where it was
/// on entry when the group cancelled it (3.13).
///
/// Single-threaded, like the loop; not copyable or movable. The group
/// holds no reference to the block's task, nor does it keep its tasks
/// alive (the loop does).
class TaskGroup {
 public:
  TaskGroup() noexcept = default;
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  /// Detaches from tasks still running (only when the block's frame is
  /// destroyed before the group exited). Never throws.
  ~TaskGroup();

  /// Creates a task in this group (≙ TaskGroup.create_task): on the
  /// group's loop, named `name` (empty: `Task-<N>`). Refused with
  /// RuntimeError("TaskGroup <...> has not been entered") before the block
  /// runs, "... is finished" once the group exited with no task left, and
  /// "... is shutting down" once it is aborting; a refused coroutine is
  /// destroyed without running (3.13 closes it). Any task of the group or
  /// the block may add tasks while the group waits for them.
  template <class T>
  Task<T> create_task(Coroutine<T> coro, std::string name = {},
                      std::source_location where = std::source_location::current()) {
    check_open();
    Task<T> task = loop_->owner->start_task(std::move(coro), name, where);
    adopt(task.core());
    return task;
  }
  /// The task runs in `context` itself (≙ `context=`).
  template <class T>
  Task<T> create_task(Coroutine<T> coro, std::string name, const Context& context,
                      std::source_location where = std::source_location::current()) {
    return start(std::move(coro), name, &context, where);
  }
  template <class T>
  Task<T> create_task(Coroutine<T> coro, const Context& context,
                      std::source_location where = std::source_location::current()) {
    return create_task(std::move(coro), std::string(), context, where);
  }
  /// An awaitable operation (a queue's get() or put(), ...) as a task of
  /// the group, as asyncio::create_task() takes it.
  template <class A>
    requires detail::CoroutineOperation<A>
  Task<typename detail::coroutine_of_t<A>::value_type> create_task(
      A&& op, std::string name = {}, std::source_location where = std::source_location::current()) {
    check_open();
    return create_task(detail::to_coroutine(std::forward<A>(op)), std::move(name), where);
  }
  /// `f(args...)` as a task of the group that owns `f` and the arguments
  /// (see asyncio::create_task(f, args...)).
  template <class F, class... A>
    requires detail::CoroutineFunction<F, A...>
  Task<typename detail::function_coroutine_t<F, A...>::value_type> create_task(F&& f, A&&... args) {
    check_open();
    return create_task(detail::owned_call(std::forward<F>(f), std::forward<A>(args)...));
  }

  /// `<TaskGroup tasks=2 errors=1 cancelling>`, as CPython's repr.
  std::string repr() const;

 private:
  friend struct detail::TaskGroupAccess;
  struct Child;

  void check_open() const;
  void adopt(detail::TaskCore* task);
  template <class T>
  Task<T> start(Coroutine<T>&& coro, std::string& name, const Context* context, std::source_location where) {
    check_open();
    Task<T> task = loop_->owner->start_task(std::move(coro), name, context, where);
    adopt(task.core());
    return task;
  }
  /// __aenter__: RuntimeError("TaskGroup <...> has already been entered"),
  /// or "... cannot determine the parent task" outside a task.
  void enter();
  /// __aexit__ for a block that ended with `exc` (null: normally).
  Coroutine<> exit(std::exception_ptr exc);
  void abort();
  void on_task_done(Child& c);
  void unlink(Child& c) noexcept;
  void detach() noexcept;

  detail::LoopCore* loop_ = nullptr;    ///< counted once entered
  detail::TaskCore* parent_ = nullptr;  ///< the block's task, while entered
  Child* first_ = nullptr;              ///< the tasks not done, in creation order
  Child* last_ = nullptr;
  std::size_t ntasks_ = 0;
  std::vector<std::exception_ptr> errors_;
  std::exception_ptr base_error_;  ///< the first KeyboardInterrupt/SystemExit
  Future<> on_completed_;          ///< set when the last task is done
  bool entered_ = false;
  bool exiting_ = false;
  bool aborting_ = false;
  bool parent_cancel_requested_ = false;
};

namespace detail {

struct TaskGroupAccess {
  static void enter(TaskGroup& tg) { tg.enter(); }
  static Coroutine<> exit(TaskGroup& tg, std::exception_ptr exc) { return tg.exit(std::move(exc)); }
  static void detach(TaskGroup& tg) noexcept { tg.detach(); }
};

/// `async with tg: return await body(tg)`. `outer` is the user's group, or
/// null to use one living in this frame. The body (a callable) lives in
/// this frame, so a lambda coroutine's captures outlive its coroutine.
template <class R, class F>
Coroutine<R> taskgroup_scope(TaskGroup* outer, F body) {
  std::optional<TaskGroup> own;
  TaskGroup& tg = outer ? *outer : own.emplace();
  TaskGroupAccess::enter(tg);
  // Should this frame be destroyed before the group exited (its task
  // dropped by a closing loop), the group must stop following its tasks.
  struct Abandon {
    TaskGroup* tg;
    ~Abandon() {
      if (tg) TaskGroupAccess::detach(*tg);
    }
  } abandon{&tg};
  std::exception_ptr exc;
  std::optional<std::conditional_t<std::is_void_v<R>, char, R>> result;
  try {
    if constexpr (std::is_void_v<R>)
      co_await body_coroutine(body, tg);
    else
      result.emplace(co_await body_coroutine(body, tg));
  } catch (...) {
    exc = std::current_exception();
  }
  // C++ cannot co_await inside a handler: the exit runs after it.
  co_await TaskGroupAccess::exit(tg, exc);
  abandon.tg = nullptr;
  // Like a falsy __aexit__: what the block raised goes on.
  if (exc) std::rethrow_exception(exc);
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

}  // namespace detail

/// Runs `body` with a new TaskGroup and waits for all its tasks
/// (≙ `async with asyncio.TaskGroup() as tg:`): `co_await
/// asyncio::task_group([&](asyncio::TaskGroup& tg) { tg.create_task(work(1));
/// ... })`. Gives what the body returns; throws as described at TaskGroup.
/// The body is any callable taking `TaskGroup&` (or nothing): a plain
/// function (the block only spawns tasks) or a coroutine (the block awaits
/// too). It is moved into the returned coroutine's frame at once and lives
/// there until it has finished. Must run inside a task.
template <class F>
  requires detail::ScopeBody<std::decay_t<F>, TaskGroup>
Coroutine<detail::body_result_t<std::decay_t<F>, TaskGroup>> task_group(F&& body) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::taskgroup_scope<detail::body_result_t<std::decay_t<F>, TaskGroup>, std::decay_t<F>>(
      nullptr, std::forward<F>(body));
}

/// `async with tg:` for a TaskGroup made beforehand, which can then be
/// handed out before the block runs (its create_task() refuses until then)
/// and stays usable after it (create_task() then raises "is finished"). A
/// group can be entered once: RuntimeError("TaskGroup <...> has already
/// been entered") after. `tg` must outlive the returned coroutine.
template <class F>
  requires detail::ScopeBody<std::decay_t<F>, TaskGroup>
Coroutine<detail::body_result_t<std::decay_t<F>, TaskGroup>> async_with(TaskGroup& tg, F&& body) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::taskgroup_scope<detail::body_result_t<std::decay_t<F>, TaskGroup>, std::decay_t<F>>(
      &tg, std::forward<F>(body));
}

}  // namespace asyncio

#endif  // ASYNCIO_TASKGROUPS_HPP
