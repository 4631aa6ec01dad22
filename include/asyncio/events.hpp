// asyncio-cpp: SPDX-License-Identifier: MIT
// The event loop: ready queue, timers, I/O polling (libuv), exception
// handler. ≙ Lib/asyncio/events.py and base_events.py
#ifndef ASYNCIO_EVENTS_HPP
#define ASYNCIO_EVENTS_HPP

#include <asyncio/detail/coroutine_traits.hpp>
#include <asyncio/detail/fwd.hpp>
#include <asyncio/detail/loop_core.hpp>
#include <asyncio/exceptions.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>

namespace asyncio {

class Context;

namespace detail {
class HandleState;
class FutureCore;
}  // namespace detail
}  // namespace asyncio

struct uv_loop_s;  // libuv's loop, opaque here: uv.h stays out of public headers

namespace asyncio {
namespace detail {
uv_loop_s* uv_loop_of(EventLoop& loop) noexcept;
class ThreadsafeQueue;
std::shared_ptr<ThreadsafeQueue> threadsafe_port(EventLoop& loop);
/// The handler add_signal_handler() set for `sig`, null if none (for run()).
const std::function<void()>* signal_handler(EventLoop& loop, int sig) noexcept;
struct FdWatchers;
/// The loop's add_reader / add_writer registrations (made at first use).
FdWatchers& fd_watchers(EventLoop& loop);
}  // namespace detail

/// A callback scheduled with call_soon (≙ asyncio.Handle). A copyable
/// reference; dropping it does not cancel the call.
class Handle {
 public:
  Handle() noexcept = default;
  Handle(const Handle& o) noexcept;
  Handle& operator=(const Handle& o) noexcept;
  Handle(Handle&& o) noexcept;
  Handle& operator=(Handle&& o) noexcept;
  ~Handle();

  /// Prevents the call if it has not run yet. Never throws.
  void cancel() noexcept;
  /// True once cancel() was called.
  bool cancelled() const noexcept;
  /// The context the callback runs in: a copy of the scheduler's, or the
  /// one given as `context` (≙ Handle.get_context()). Needs
  /// <asyncio/contextvars.hpp>.
  Context get_context() const;

 protected:
  explicit Handle(detail::HandleState* s) noexcept : s_(s) {}
  detail::HandleState* s_ = nullptr;
  friend class EventLoop;
};

/// A callback scheduled with call_later/call_at (≙ asyncio.TimerHandle).
class TimerHandle : public Handle {
 public:
  TimerHandle() noexcept = default;
  /// The loop time at which the callback is due.
  double when() const noexcept;

 private:
  using Handle::Handle;
  friend class EventLoop;
};

/// What the exception handler receives (≙ the `context` dict).
struct ExceptionContext {
  std::string message;           ///< always set
  std::exception_ptr exception;  ///< may be null
  std::string task;              ///< repr of the task concerned, if any
  std::string future;            ///< repr of the future concerned, if any
  std::string handle;            ///< repr of the callback handle, if any
  const void* source = nullptr;  ///< identity of that task/future (TaskRef::native())
  /// Debug mode: where that task, future or handle was created
  /// (≙ `source_traceback`, printed as "Object created at ...").
  std::optional<std::source_location> source_traceback = std::nullopt;
};

class EventLoop;
class TaskRef;
struct TaskFactory;
class ThreadPoolExecutor;
class Runner;
/// `handler(loop, context)`, as loop.set_exception_handler() takes.
using ExceptionHandler = std::function<void(EventLoop&, const ExceptionContext&)>;

/// How to build a loop.
struct LoopOptions {
  /// CPython's TestLoop: when nothing is ready, time() jumps to the next
  /// timer instead of waiting, so timeouts in tests are exact and instant.
  bool virtual_time = false;
  /// Debug mode (docs/debug.md; ≙ asyncio.run(debug=...)). Unset: on when
  /// the environment variable ASYNCIO_DEBUG is set and not empty (≙
  /// PYTHONASYNCIODEBUG).
  std::optional<bool> debug = std::nullopt;
};

/// An asyncio event loop. One per thread may run at a time; it is not
/// thread-safe except for call_soon_threadsafe(). Scheduling follows CPython
/// (spec §0.3): each pass polls I/O, queues due timers, then runs exactly
/// the callbacks that were ready when the pass began.
class EventLoop {
 public:
  EventLoop();
  explicit EventLoop(LoopOptions options);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  /// Closes the loop if needed. Must not be destroyed while running.
  ~EventLoop();

  /// Schedules `cb` to run on the next pass, after what is already queued.
  /// Throws RuntimeError("Event loop is closed") after close(). In debug
  /// mode `where` is recorded, and a call from another thread than the one
  /// running the loop throws RuntimeError("Non-thread-safe operation
  /// invoked on an event loop other than the current one") (also
  /// call_later, call_at and create_task).
  Handle call_soon(std::function<void()> cb, std::source_location where = std::source_location::current());
  /// Thread-safe call_soon that also wakes the loop. The only member that
  /// may be called from another thread.
  Handle call_soon_threadsafe(std::function<void()> cb);
  /// Schedules `cb` at time() + delay (seconds; negative means now).
  TimerHandle call_later(double delay, std::function<void()> cb,
                         std::source_location where = std::source_location::current());
  template <class Rep, class Period>
  TimerHandle call_later(std::chrono::duration<Rep, Period> delay, std::function<void()> cb,
                         std::source_location where = std::source_location::current()) {
    return call_later(std::chrono::duration<double>(delay).count(), std::move(cb), where);
  }
  /// Schedules `cb` at loop time `when`. Timers with equal times run FIFO.
  TimerHandle call_at(double when, std::function<void()> cb,
                      std::source_location where = std::source_location::current());
  /// The callback runs in a copy of the caller's context; with `context`
  /// (≙ `context=`) in that context itself. Need <asyncio/contextvars.hpp>.
  Handle call_soon(std::function<void()> cb, const Context& context,
                   std::source_location where = std::source_location::current());
  Handle call_soon_threadsafe(std::function<void()> cb, const Context& context);
  TimerHandle call_later(double delay, std::function<void()> cb, const Context& context,
                         std::source_location where = std::source_location::current());
  TimerHandle call_at(double when, std::function<void()> cb, const Context& context,
                      std::source_location where = std::source_location::current());
  /// The loop's monotonic clock in seconds (virtual under virtual_time).
  double time() const noexcept;

  /// Wraps `coro` in a Task of this loop and schedules its first step.
  /// Debug mode records `where` (the task's creation site).
  template <class T>
  Task<T> create_task(Coroutine<T> coro, std::string name = {},
                      std::source_location where = std::source_location::current());
  /// Runs `f(args...)` as a task of this loop that owns `f` and the
  /// arguments (as asyncio::create_task(f, args...)).
  template <class F, class... A>
    requires detail::CoroutineFunction<F, A...>
  Task<typename detail::function_coroutine_t<F, A...>::value_type> create_task(F&& f, A&&... args);
  /// The task runs in `context` itself instead of a copy of the caller's
  /// (≙ `context=`); see <asyncio/contextvars.hpp>.
  template <class T>
  Task<T> create_task(Coroutine<T> coro, std::string name, const Context& context,
                      std::source_location where = std::source_location::current());
  template <class T>
  Task<T> create_task(Coroutine<T> coro, const Context& context,
                      std::source_location where = std::source_location::current()) {
    return create_task(std::move(coro), std::string(), context, where);
  }
  /// create_task(q.get()), create_task(reader.readline()): an awaitable
  /// operation that converts to a Coroutine, as a task of this loop.
  template <class A>
    requires detail::CoroutineOperation<A>
  Task<typename detail::coroutine_of_t<A>::value_type> create_task(
      A&& op, std::string name = {}, std::source_location where = std::source_location::current()) {
    return create_task(detail::to_coroutine(std::forward<A>(op)), std::move(name), where);
  }
  /// create_task without moving the name around (the hot path).
  template <class T>
  Task<T> start_task(Coroutine<T>&& coro, std::string& name,
                     std::source_location where = std::source_location::current());
  /// The same in `context` (null: a copy of the caller's).
  template <class T>
  Task<T> start_task(Coroutine<T>&& coro, std::string& name, const Context* context,
                     std::source_location where = std::source_location::current());
  /// Runs `fn()` in `executor` (the default executor if null) and returns
  /// a Future of its result (≙ loop.run_in_executor). Cancelling the
  /// Future drops the call if no worker has started it. `fn` runs in a copy
  /// of the caller's context, as to_thread's function (CPython's runs in
  /// the worker thread's own). Defined in <asyncio/threads.hpp>.
  template <class F>
  auto run_in_executor(ThreadPoolExecutor* executor, F&& fn);
  /// The default executor, created on first use.
  ThreadPoolExecutor& default_executor();
  /// Replaces the default executor (the old one is shut down, waiting).
  void set_default_executor(std::unique_ptr<ThreadPoolExecutor> executor);
  /// Shuts the default executor down and joins its threads (blocks; run()
  /// does it at exit). Idempotent; a later run_in_executor starts a new one.
  void shutdown_default_executor();

  /// Calls `callback` on the loop's thread, through the ready queue, when
  /// signal `sig` arrives (≙ loop.add_signal_handler); replaces an earlier
  /// handler of `sig`. Signals that arrive before the call runs are one
  /// call; a handler removed or replaced before its queued call runs is not
  /// called. std::invalid_argument("invalid signal number N");
  /// RuntimeError("sig N cannot be caught") for SIGKILL and SIGSTOP, and
  /// RuntimeError("sig N cannot be caught: <reason>") for the signals libc
  /// reserves (32 and 33 with glibc, where CPython says ValueError).
  void add_signal_handler(int sig, std::function<void()> callback);
  /// Removes the handler of `sig`; false if there was none.
  bool remove_signal_handler(int sig);

  /// Calls `callback` (through the ready queue) whenever `fd` is readable
  /// (≙ loop.add_reader). One reader per descriptor: a second add_reader()
  /// replaces the first (a call of the old one already due is dropped, as
  /// CPython cancels its handle). The loop polls `fd` with one libuv poll
  /// handle shared by its reader and writer. RuntimeError("File descriptor
  /// N is used by transport <...>") when a transport or server of this loop
  /// owns `fd`; std::system_error when the kernel cannot poll it (a regular
  /// file: "[Errno 1] Operation not permitted"). The descriptor must stay
  /// open until the reader is removed.
  void add_reader(int fd, std::function<void()> callback);
  /// The same for writability (≙ loop.add_writer).
  void add_writer(int fd, std::function<void()> callback);
  /// Removes the reader of `fd`; false if there was none (and after
  /// close()). A call already due is dropped. RuntimeError as add_reader()
  /// for a descriptor a transport owns.
  bool remove_reader(int fd);
  /// Removes the writer of `fd`; false if there was none.
  bool remove_writer(int fd);
  /// Waits until `fd` is readable (beyond CPython: add_reader() and a
  /// future in one awaitable). Nothing stays registered once it returns,
  /// throws or is cancelled. RuntimeError("File descriptor N is already
  /// waited for by another reader") when a reader is registered for `fd`;
  /// the errors of add_reader() otherwise. Defined in selector_events.cpp.
  Coroutine<> wait_readable(int fd);
  /// Waits until `fd` is writable; as wait_readable().
  Coroutine<> wait_writable(int fd);

  /// Replaces the task factory (≙ loop.set_task_factory); a default
  /// TaskFactory{} restores the default (lazy tasks, no hook).
  void set_task_factory(const TaskFactory& factory);
  /// The current task factory.
  const TaskFactory& get_task_factory() const noexcept;
  /// Gives a task made by start() to the task factory's hook, then
  /// schedules (or, eager, runs) its first step. If the hook throws, the
  /// task is cancelled before its body runs and the exception propagates.
  /// In debug mode, records `where` as the task's creation site first.
  void launch_task(detail::TaskCore& task, std::source_location where = std::source_location::current());
  /// A new pending Future of this loop (debug mode records `where`).
  template <class T = void>
  Future<T> create_future(std::source_location where = std::source_location::current());

  /// Runs until `fut` is done and returns its result (rethrows its
  /// exception). RuntimeError("Event loop stopped before Future
  /// completed.") if stop() came first.
  template <class T>
  decltype(auto) run_until_complete(const Future<T>& fut);
  template <class T>
  decltype(auto) run_until_complete(const Task<T>& task);
  /// Runs `coro` as a task; returns its value (moved out).
  template <class T>
  T run_until_complete(Coroutine<T> coro);
  /// Runs an awaitable operation (a queue's get(), a stream read) as a task.
  template <class A>
    requires detail::CoroutineOperation<A>
  typename detail::coroutine_of_t<A>::value_type run_until_complete(A&& op) {
    return run_until_complete(detail::to_coroutine(std::forward<A>(op)));
  }
  /// Runs passes until stop() is called.
  void run_forever();
  /// Makes run_forever() return after the current pass.
  void stop() noexcept;
  /// Closes the loop: drops queued callbacks and timers, reports and
  /// releases tasks still pending ("Task was destroyed but it is
  /// pending!"), closes the transports, servers and signal handlers left
  /// open (without protocol callbacks), and kills (SIGKILL) and collects
  /// child processes still running. Idempotent. RuntimeError if running.
  void close();
  bool is_running() const noexcept;
  bool is_closed() const noexcept;

  /// Replaces the exception handler; an empty function restores the default.
  void set_exception_handler(ExceptionHandler handler);
  /// The default handler: one message on stderr.
  void default_exception_handler(const ExceptionContext& context);
  /// Calls the installed handler (exceptions it throws are reported by the
  /// default handler and dropped).
  void call_exception_handler(const ExceptionContext& context) noexcept;

  /// Runs one pass of the loop (CPython's _run_once). For tests.
  void run_once();

  /// Turns debug mode on or off (≙ loop.set_debug; docs/debug.md): from
  /// now on, tasks, futures and handles record where they were created,
  /// callbacks and task steps that take slow_callback_duration() or more
  /// are logged, call_soon/call_later/call_at/create_task check the
  /// calling thread, and resources left open at close() are reported.
  void set_debug(bool enabled) noexcept;
  bool get_debug() const noexcept { return core_->debug; }
  /// The step duration (seconds) from which debug mode logs "Executing
  /// <...> took 0.205 seconds"; default 0.1 (≙ slow_callback_duration).
  double slow_callback_duration() const noexcept;
  void set_slow_callback_duration(double seconds) noexcept;
  /// Moves a virtual_time loop's clock forward by `seconds` (≙
  /// test_utils.TestLoop.advance_time): lets a test make a callback "take"
  /// a given time. RuntimeError("advance_time() needs a virtual_time
  /// loop") on a real-time loop.
  void advance_time(double seconds);

  detail::LoopCore& core() noexcept { return *core_; }

 private:
  struct Impl;
  friend class Runner;
  friend uv_loop_s* detail::uv_loop_of(EventLoop&) noexcept;
  friend std::shared_ptr<detail::ThreadsafeQueue> detail::threadsafe_port(EventLoop&);
  friend const std::function<void()>* detail::signal_handler(EventLoop&, int) noexcept;
  friend detail::FdWatchers& detail::fd_watchers(EventLoop&);
  void check_closed() const;
  /// check_closed() and, in debug mode, the thread check of call_soon()
  /// (one test on the hot path: Impl::guarded is closed || debug).
  void check_call() const;
  void check_guarded() const;
  /// Schedules (or, eager, runs) the first step of a task start() made.
  template <class T>
  Task<T> launch_new(detail::TaskCore& p, std::source_location where);
  /// Gives `h` (new) to the queue other threads post to.
  Handle post_handle(detail::HandleState* h);
  /// What run_forever() checks before running: closed, already running,
  /// another loop running in this thread.
  void check_runnable() const;
  void run_until_done(detail::FutureCore& f);
  detail::LoopCore* core_;
  std::unique_ptr<Impl> impl_;
};

/// The loop running in this thread. Throws RuntimeError("no running event
/// loop") when none is.
EventLoop& get_running_loop();

/// The running loop, or else this thread's current loop (≙
/// asyncio.get_event_loop()): the one given to set_event_loop(), or the
/// first loop made on this thread while it is open. Lets gather() and
/// ensure_future() be called before the loop runs, as in
/// `loop.run_until_complete(gather(a(), b()))`: their tasks start when it
/// does. RuntimeError("There is no current event loop in thread
/// 'MainThread'.") when there is none (3.14; 3.13 made one with a
/// DeprecationWarning).
EventLoop& get_event_loop();
/// Makes `loop` this thread's current loop (null: none) (≙
/// asyncio.set_event_loop). A loop stops being current when it is closed.
void set_event_loop(EventLoop* loop) noexcept;

}  // namespace asyncio

#endif  // ASYNCIO_EVENTS_HPP
