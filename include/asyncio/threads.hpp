// asyncio-cpp: SPDX-License-Identifier: MIT
// Threads: run blocking calls in an executor, and reach a loop from other
// threads. ≙ Lib/asyncio/threads.py (to_thread), run_in_executor and
// run_coroutine_threadsafe / wrap_future of base_events.py, tasks.py, futures.py
#ifndef ASYNCIO_THREADS_HPP
#define ASYNCIO_THREADS_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/executors.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>

#include <atomic>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

namespace asyncio {

namespace detail {

/// One call handed to an executor. The future it completes is touched
/// only on the loop's thread: run() happens on a worker, finish() on the
/// loop (posted through call_soon_threadsafe's queue).
class ExecutorCall {
 public:
  virtual ~ExecutorCall() = default;
  /// Worker thread: runs the function and keeps its outcome.
  virtual void run() noexcept = 0;
  /// Loop thread: completes the future (unless cancelled) and drops it.
  /// Idempotent.
  virtual void finish() noexcept = 0;
  /// Loop thread, at close: drops the future without completing it (the
  /// call may still be running in its worker). Breaks the cycle of the
  /// call, its future and the future's done-callback, which holds the call.
  virtual void abandon() noexcept = 0;
  /// Claims the call for a worker; false if it was cancelled first.
  bool start() noexcept {
    int queued = 0;
    return state_.compare_exchange_strong(queued, 1);
  }
  /// The future was cancelled: the call is dropped if no worker took it.
  void cancel() noexcept {
    int queued = 0;
    state_.compare_exchange_strong(queued, 2);
  }
  bool on_loop_thread() const noexcept { return std::this_thread::get_id() == loop_thread_; }

 private:
  std::atomic<int> state_{0};  // 0 queued, 1 taken by a worker, 2 cancelled
  std::thread::id loop_thread_ = std::this_thread::get_id();
};

/// The loop's half of a call whose outcome another thread produces (an
/// executor's worker, another loop): the future it completes, a counted
/// reference released on the loop's thread, and the outcome, written by
/// the other thread before it posts finish() (the post orders the two).
template <class R>
class CallResult : public ExecutorCall {
 public:
  explicit CallResult(FutureState<R>* fut) : fut_(fut) { fut_->incref(); }
  void finish() noexcept override {
    if (!fut_) return;
    if (!fut_->done() && (value_ || error_)) {
      try {
        if (error_)
          fut_->finish_exception(error_);
        else if constexpr (std::is_void_v<R>)
          fut_->set_value();
        else
          fut_->set_value(std::move(*value_));
      } catch (...) {
        fut_->finish_exception(std::current_exception());
      }
    }
    std::exchange(fut_, nullptr)->decref();
  }
  void abandon() noexcept override {
    if (fut_) std::exchange(fut_, nullptr)->decref();
  }

 protected:
  using Slot = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  /// Loop thread: the future, null once finished or abandoned.
  FutureState<R>* future() const noexcept { return fut_; }
  std::optional<Slot> value_;
  std::exception_ptr error_;

 private:
  FutureState<R>* fut_;  // a counted reference, released by finish()
};

template <class R, class F>
class ExecutorCallOf final : public CallResult<R> {
 public:
  ExecutorCallOf(F fn, FutureState<R>* fut) : CallResult<R>(fut), fn_(std::move(fn)) {}
  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        fn_();
        this->value_.emplace();
      } else {
        this->value_.emplace(fn_());
      }
    } catch (...) {
      this->error_ = std::current_exception();
    }
  }

 private:
  F fn_;
};

/// Any thread: posts `call->finish()` to the loop whose mailbox is `port`
/// (where `call` was tracked). Refused (false) once that loop is closed:
/// its close() then abandons the call on its own thread.
bool post_finish(std::shared_ptr<ThreadsafeQueue> port, std::shared_ptr<ExecutorCall> call);

/// Loop thread: `call` is out until its finish() is posted back with
/// post_finish(); gives the mailbox to post it to. At close the loop
/// abandons the calls still out.
std::shared_ptr<ThreadsafeQueue> expect_reply(EventLoop& loop, std::shared_ptr<ExecutorCall> call);
/// Any thread: runs `cb` on the loop behind `port`; false once it is closed
/// (`cb` is then dropped in this thread).
bool post_to_port(ThreadsafeQueue& port, std::function<void()> cb);

/// The awaiting loop's half of a cross-thread await (submit_to(),
/// wrap_future of a ConcurrentFuture): completed on that loop with what
/// the other loop's task gave; a cancelled task cancels it, as
/// futures._copy_future_state does.
template <class T>
class RemoteResult final : public CallResult<T> {
 public:
  using CallResult<T>::CallResult;
  void run() noexcept override {}
  /// Other thread: keeps `t`'s outcome (retrieving it).
  void store(Task<T>& t) noexcept {
    if (t.cancelled()) {
      remote_cancelled_ = true;
      return;
    }
    keep([&]() -> T { return t.result(); });
  }
  /// Other thread: keeps the outcome of a ready std::future.
  void store(std::future<T>& f) noexcept { keep([&]() -> T { return f.get(); }); }
  void store_error(std::exception_ptr e) noexcept { this->error_ = std::move(e); }
  void finish() noexcept override {
    if (remote_cancelled_ && this->future() && !this->future()->done()) this->future()->cancel({});
    CallResult<T>::finish();
  }
  /// Set on the awaiting loop when its future is cancelled; read by the
  /// other loop when it makes the task.
  std::atomic<bool> cancel_requested{false};

 private:
  template <class Get>
  void keep(Get get) noexcept {
    try {
      if constexpr (std::is_void_v<T>) {
        get();
        this->value_.emplace();
      } else {
        this->value_.emplace(get());
      }
    } catch (const CancelledError&) {
      remote_cancelled_ = true;
    } catch (...) {
      this->error_ = std::current_exception();
    }
  }
  bool remote_cancelled_ = false;  // written by the other thread before the post
};

/// Awaits a Future it owns: the awaiter a temporary gives when it has to
/// make the Future itself (co_await of a ConcurrentFuture).
template <class T>
class OwnedFutureAwaiter {
 public:
  explicit OwnedFutureAwaiter(Future<T> f) : fut_(std::move(f)), inner_(std::move(fut_).operator co_await()) {}
  bool await_ready() const noexcept { return inner_.await_ready(); }
  bool await_suspend(std::coroutine_handle<> h) noexcept { return inner_.await_suspend(h); }
  decltype(auto) await_resume() { return inner_.await_resume(); }

 private:
  Future<T> fut_;
  decltype(std::declval<Future<T>&&>().operator co_await()) inner_;
};

/// Runs `call` on `executor` (the loop's default one if null) and posts
/// its finish() to the loop.
void submit_call(EventLoop& loop, ThreadPoolExecutor* executor, std::shared_ptr<ExecutorCall> call);

/// run_in_executor() without its GCC 12 check: for the library's own
/// callables, which are never temporaries of a co_await expression.
template <class Fn>
Future<std::invoke_result_t<Fn&>> run_in_executor(EventLoop& loop, ThreadPoolExecutor* executor, Fn fn);

template <class R, class F>
Coroutine<R> await_in_default_executor(F fn) {
  Future<R> fut = run_in_executor(get_running_loop(), nullptr, std::move(fn));
  if constexpr (std::is_void_v<R>)
    co_await fut;
  else
    co_return co_await std::move(fut);
}

/// What run_coroutine_threadsafe shares between the caller's thread and
/// the loop's.
template <class T>
struct ThreadsafeRun {
  explicit ThreadsafeRun(Coroutine<T> c) : coro(std::move(c)) {}
  Coroutine<T> coro;          // loop thread, once posted
  std::promise<T> promise;    // set on the loop thread
  std::atomic<bool> cancel_requested{false};
  TaskRef task;               // loop thread only
  bool settled = false;       // the promise is set; with `task`, loop thread only

  /// The task is done: its outcome goes to the caller's future.
  void settle(Task<T>& t) noexcept {
    settled = true;
    try {
      if constexpr (std::is_void_v<T>) {
        t.result();
        promise.set_value();
      } else {
        promise.set_value(std::move(t.result()));
      }
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
    task = TaskRef();
    notify();
  }
  void fail(std::exception_ptr e) noexcept {
    settled = true;
    promise.set_exception(std::move(e));
    notify();
  }
  /// Any thread: runs `fn` once the promise is set: at once, here, if it
  /// is; else on the loop's thread, right after (≙
  /// concurrent.futures.Future.add_done_callback). One hook: the awaiter.
  void on_done(std::function<void()> fn) {
    {
      std::lock_guard lock(done_mutex_);
      if (!completed_) {
        hook_ = std::move(fn);
        return;
      }
    }
    fn();
  }

 private:
  void notify() noexcept {
    std::function<void()> fn;
    {
      std::lock_guard lock(done_mutex_);
      completed_ = true;
      fn = std::move(hook_);
    }
    if (fn) fn();
  }
  std::mutex done_mutex_;  // guards what follows
  bool completed_ = false;
  std::function<void()> hook_;
};

/// Shared by the two callables the loop holds for a run (the posted one
/// that makes the task, the task's done-callback). When the last of them
/// goes without having settled the run — the loop closed before the task
/// was made or finished — the caller's future fails with
/// RuntimeError("Event loop is closed") and the coroutine and task are let
/// go on the loop's thread: nothing waits for ever, nothing leaks.
template <class T>
struct ThreadsafeRunGuard {
  explicit ThreadsafeRunGuard(std::shared_ptr<ThreadsafeRun<T>> r) noexcept : run(std::move(r)) {}
  ThreadsafeRunGuard(const ThreadsafeRunGuard&) = delete;
  ThreadsafeRunGuard& operator=(const ThreadsafeRunGuard&) = delete;
  ~ThreadsafeRunGuard() {
    if (!run->settled) run->fail(std::make_exception_ptr(RuntimeError("Event loop is closed")));
    run->task = TaskRef();
    run->coro = Coroutine<T>();
  }
  std::shared_ptr<ThreadsafeRun<T>> run;
};

bool post_to_loop(EventLoop& loop, std::function<void()> cb);

}  // namespace detail

template <class Fn>
Future<std::invoke_result_t<Fn&>> detail::run_in_executor(EventLoop& loop, ThreadPoolExecutor* executor, Fn fn) {
  using R = std::invoke_result_t<Fn&>;
  Future<R> fut = loop.create_future<R>();
  auto call = std::make_shared<detail::ExecutorCallOf<R, Fn>>(std::move(fn), fut.state());
  // Cancelling the future drops the call if no worker has taken it yet (a
  // running call finishes; its result is then ignored), as CPython does.
  fut.add_done_callback([call](Future<R> f) {
    if (f.cancelled()) call->cancel();
  });
  detail::submit_call(loop, executor, std::move(call));
  return fut;
}

namespace detail {
/// `fn` to run in a worker in a copy of the context current here
/// (≙ ctx.run(func)): what to_thread() and run_in_executor() submit.
template <class Fn>
auto in_copied_context(Fn fn) {
  return [context = OwnedContext(), fn = std::move(fn)]() mutable -> std::invoke_result_t<Fn&> {
    ContextSwitch in_context(context.slot());
    return std::invoke(fn);
  };
}
}  // namespace detail

template <class F>
auto EventLoop::run_in_executor(ThreadPoolExecutor* executor, F&& fn) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  // Beyond CPython, whose run_in_executor leaves the worker in the
  // thread's own context (design-notes.md, "Context variables").
  return detail::run_in_executor(*this, executor,
                                 detail::in_copied_context(std::decay_t<F>(std::forward<F>(fn))));
}

/// Runs `f(args...)` in the running loop's default executor and gives its
/// result (≙ asyncio.to_thread), in a copy of the caller's context (as
/// EventLoop::run_in_executor). The arguments are copied (or moved) into
/// the call. Cancelling the awaiting task cancels the await; a call already
/// running in its thread still finishes, and its result is dropped.
template <class F, class... A>
auto to_thread(F&& f, A&&... args) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  using R = std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&...>;
  return detail::await_in_default_executor<R>(detail::in_copied_context(
      [f = std::decay_t<F>(std::forward<F>(f)), ... args = std::forward<A>(args)]() mutable -> R {
        return std::invoke(f, args...);
      }));
}

/// The std::future of run_coroutine_threadsafe, with CPython's cancel():
/// it asks the loop to cancel the task.
template <class T>
class ConcurrentFuture;
template <class T>
Future<T> wrap_future(ConcurrentFuture<T> f);

/// The std::future of run_coroutine_threadsafe, with CPython's cancel():
/// it asks the loop to cancel the task. Awaitable on another loop without
/// a thread (`co_await std::move(cf)`, ≙ `await asyncio.wrap_future(cf)`).
template <class T>
class ConcurrentFuture : public std::future<T> {
 public:
  ConcurrentFuture(std::future<T> f, std::shared_ptr<detail::ThreadsafeRun<T>> run, EventLoop& loop)
      : std::future<T>(std::move(f)), run_(std::move(run)), port_(detail::threadsafe_port(loop)) {}
  /// Requests cancellation of the task (from any thread); false if the
  /// result is already there.
  bool cancel() {
    if (this->wait_for(std::chrono::seconds(0)) == std::future_status::ready) return false;
    return request_cancel(run_, *port_);
  }
  /// Awaits the result on the running loop (the future is consumed):
  /// wrap_future(std::move(*this)).
  auto operator co_await() && { return detail::OwnedFutureAwaiter<T>(wrap_future(std::move(*this))); }
  auto operator co_await() & { return detail::OwnedFutureAwaiter<T>(wrap_future(std::move(*this))); }

 private:
  static bool request_cancel(const std::shared_ptr<detail::ThreadsafeRun<T>>& run, detail::ThreadsafeQueue& port) {
    run->cancel_requested = true;
    return detail::post_to_port(port, [run] {
      if (run->task) run->task.cancel();
    });
  }
  friend Future<T> wrap_future<T>(ConcurrentFuture<T> f);
  std::shared_ptr<detail::ThreadsafeRun<T>> run_;
  std::shared_ptr<detail::ThreadsafeQueue> port_;  // the task's loop's mailbox
};

/// Submits `coro` to `loop` from another thread (≙
/// asyncio.run_coroutine_threadsafe): the loop wraps it in a task; the
/// returned future gets its result, its exception, or CancelledError.
/// Throws RuntimeError("Event loop is closed") if the loop is closed. A
/// task factory that throws fails the future and is reported through the
/// loop's exception handler. If the loop is closed before the task is made
/// or while it is still pending, the future fails with RuntimeError("Event
/// loop is closed") (CPython's would stay pending for ever), and the
/// coroutine is freed on the loop's thread.
template <class T>
ConcurrentFuture<T> run_coroutine_threadsafe(Coroutine<T> coro, EventLoop& loop) {
  auto run = std::make_shared<detail::ThreadsafeRun<T>>(std::move(coro));
  std::future<T> f = run->promise.get_future();
  auto guard = std::make_shared<detail::ThreadsafeRunGuard<T>>(run);
  EventLoop* lp = &loop;
  const bool posted = detail::post_to_loop(loop, [guard, lp] {
    detail::ThreadsafeRun<T>& run = *guard->run;
    try {
      Task<T> task = lp->create_task(std::move(run.coro));
      run.task = task;
      if (run.cancel_requested) task.cancel();
      task.add_done_callback([guard](Task<T> t) { guard->run->settle(t); });
    } catch (...) {
      // As CPython: the future fails, and the error is also raised out of
      // this callback, which the loop reports ("Exception in callback").
      run.fail(std::current_exception());
      throw;
    }
  });
  if (!posted) throw RuntimeError("Event loop is closed");
  return ConcurrentFuture<T>(std::move(f), std::move(run), loop);
}

/// Wraps a std::future in an asyncio Future of the running loop (≙
/// asyncio.wrap_future). A std::future has no callbacks, so a worker of
/// the default executor waits for it. Cancelling the wrapper does not
/// touch the std::future.
template <class T>
Future<T> wrap_future(std::future<T> f) {
  return detail::run_in_executor(get_running_loop(), nullptr, [f = std::move(f)]() mutable -> T { return f.get(); });
}

/// Wraps the future of run_coroutine_threadsafe() in a Future of the
/// running loop (≙ asyncio.wrap_future(concurrent_future)) without a
/// thread: the task's loop posts the outcome to this loop when it is set.
/// Cancelling the wrapper cancels the task (CPython's _chain_future); a
/// cancelled task cancels the wrapper.
template <class T>
Future<T> wrap_future(ConcurrentFuture<T> f) {
  EventLoop& here = get_running_loop();
  Future<T> fut = here.create_future<T>();
  auto result = std::make_shared<detail::RemoteResult<T>>(fut.state());
  std::shared_ptr<detail::ThreadsafeQueue> reply = detail::expect_reply(here, result);
  std::shared_ptr<detail::ThreadsafeRun<T>> run = f.run_;
  std::shared_ptr<detail::ThreadsafeQueue> there = f.port_;
  fut.add_done_callback([run, there](Future<T> w) {
    if (w.cancelled()) ConcurrentFuture<T>::request_cancel(run, *there);
  });
  auto source = std::make_shared<std::future<T>>(std::move(static_cast<std::future<T>&>(f)));
  run->on_done([result, source, reply] {
    result->store(*source);
    detail::post_finish(reply, result);
  });
  return fut;
}

}  // namespace asyncio

#endif  // ASYNCIO_THREADS_HPP
