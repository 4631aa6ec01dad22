// asyncio-cpp: SPDX-License-Identifier: MIT
// ≙ Lib/asyncio/runners.py
#include <asyncio/runners.hpp>

#include <asyncio/asyncgen.hpp>
#include <asyncio/futures.hpp>

#include "detail/report.hpp"

#include <coroutine>
#include <cstdio>
#include <iostream>
#include <string>

#include <csignal>
#include <signal.h>
#include <unistd.h>

namespace asyncio {

namespace {

// Waits for a task to be done without looking at its outcome (the part of
// gather(return_exceptions=True) that _cancel_all_tasks needs).
struct DoneAwaiter {
  detail::AwaitPoint at;
  const char* error = nullptr;
  bool await_ready() const noexcept { return at.future->done(); }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    at.frame = h;
    return detail::suspend_current_task(at, error);
  }
  void await_resume() const noexcept {}
};

Coroutine<> wait_all(std::vector<TaskRef> tasks) {
  for (const TaskRef& t : tasks) co_await DoneAwaiter{{t.core(), nullptr}};
}

// ≙ runners._cancel_all_tasks
void cancel_all_tasks(EventLoop& loop) {
  std::vector<TaskRef> tasks = all_tasks(loop);
  if (tasks.empty()) return;
  for (TaskRef& t : tasks) t.cancel();
  loop.run_until_complete(wait_all(tasks));
  for (TaskRef& t : tasks) {
    if (t.cancelled()) continue;
    if (std::exception_ptr e = t.exception()) {
      ExceptionContext ctx;
      ctx.message = "unhandled exception during asyncio.run() shutdown";
      ctx.exception = e;
      ctx.task = t.repr();
      ctx.source = t.native();
      loop.call_exception_handler(ctx);
    }
  }
}

}  // namespace

namespace {

bool in_main_thread() noexcept { return ::gettid() == ::getpid(); }

bool sigint_has_default_handler() noexcept {
  struct sigaction sa {};
  return ::sigaction(SIGINT, nullptr, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
}

// CPython's Runner._on_sigint, installed for the length of one run().
class SigintGuard {
 public:
  SigintGuard(EventLoop& loop, const TaskRef& main) : loop_(loop) {
    if (!in_main_thread() || !sigint_has_default_handler()) return;
    loop_.add_signal_handler(SIGINT, OnSigint{this, main});
    installed_ = true;
  }
  ~SigintGuard() {
    // Only if it is still ours: a handler the program set meanwhile stays
    // (CPython restores SIGINT only while getsignal() is its handler).
    const std::function<void()>* current = detail::signal_handler(loop_, SIGINT);
    const OnSigint* ours = current ? current->target<OnSigint>() : nullptr;
    if (installed_ && ours && ours->guard == this) loop_.remove_signal_handler(SIGINT);
  }
  int interrupts() const noexcept { return interrupts_; }

 private:
  struct OnSigint {
    SigintGuard* guard;
    TaskRef task;
    void operator()() {
      if (++guard->interrupts_ == 1 && !task.done()) {
        task.cancel();
        return;
      }
      throw KeyboardInterrupt();
    }
  };

  EventLoop& loop_;
  int interrupts_ = 0;
  bool installed_ = false;
};

}  // namespace

void Runner::run_task(const TaskRef& main) {
  detail::TaskCore& core = *main.core();
  SigintGuard sigint(*loop_, main);
  try {
    loop_->run_until_done(core);
    core.check_result();
  } catch (const CancelledError&) {
    if (sigint.interrupts() > 0 && core.uncancel() == 0) throw KeyboardInterrupt();
    throw;
  } catch (...) {
    // A fatal exception escaped the loop: the caller cannot reach the main
    // task, so its copy of the exception is not "never retrieved".
    if (core.done() && !core.cancelled()) core.mark_retrieved();
    throw;
  }
}

bool loop_running_in_this_thread() noexcept { return detail::tls.running != nullptr; }

void throw_run_nested() { throw RuntimeError("asyncio.run() cannot be called from a running event loop"); }

Runner::~Runner() {
  try {
    close();
  } catch (...) {
    // A destructor cannot throw; a fatal exception during the final drain
    // has nowhere to go.
  }
}

EventLoop& Runner::get_loop() {
  if (state_ == State::closed) throw RuntimeError("Runner is closed");
  if (state_ == State::created) {
    loop_ = std::make_unique<EventLoop>(options_);
    context_ = copy_context();
    state_ = State::initialized;
  }
  return *loop_;
}

EventLoop& Runner::prepare_run() {
  if (loop_running_in_this_thread()) throw RuntimeError("Runner.run() cannot be called from a running event loop");
  return get_loop();
}

void Runner::close() {
  if (state_ != State::initialized) return;
  struct Finally {
    Runner& r;
    ~Finally() {
      r.loop_->close();  // the object stays, closed, as CPython's does
      r.state_ = State::closed;
    }
  } finally{*this};
  cancel_all_tasks(*loop_);
  loop_->run_until_complete(shutdown_asyncgens());  // ≙ Runner.close(): loop.shutdown_asyncgens()
}

int detail::main_exit_status(const std::exception_ptr& error, int status) noexcept {
  // What the program wrote comes first, as Python flushes before printing
  // the traceback; and nothing written is lost whatever happens next.
  std::cout.flush();
  std::fflush(stdout);
  if (!error) {
    std::cerr.flush();
    std::fflush(stderr);
    return status;
  }
  int code = 1;
  std::string text;
  try {
    try {
      std::rethrow_exception(error);
    } catch (const SystemExit& e) {
      code = e.code();
      if (e.has_message()) text = std::string(e.what()) + "\n";
    } catch (const KeyboardInterrupt&) {
      code = 130;
      text = "Traceback (most recent call last):\n" + format_exception_only(error);
    } catch (...) {
      text = "Traceback (most recent call last):\n" + format_exception_only(error);
    }
  } catch (...) {
    text = "Traceback (most recent call last):\n<unprintable exception>\n";
  }
  std::cerr.flush();
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
  return code;
}

}  // namespace asyncio
