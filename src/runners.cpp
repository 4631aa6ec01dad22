// asyncio-cpp: SPDX-License-Identifier: MIT
// ≙ Lib/asyncio/runners.py
#include <asyncio/runners.hpp>

#include <asyncio/futures.hpp>

#include "detail/report.hpp"

#include <coroutine>

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
}

}  // namespace asyncio
