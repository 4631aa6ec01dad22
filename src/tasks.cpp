// asyncio-cpp: SPDX-License-Identifier: MIT
// The Task state machine: steps, cancellation, completion. ≙ Lib/asyncio/tasks.py
#include <asyncio/tasks.hpp>

#include "detail/debug.hpp"
#include "detail/report.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace asyncio {

namespace detail {

constinit thread_local ThreadState tls{};

void defer_destroy(std::coroutine_handle<> h) {
  if (!tls.deferred) tls.deferred = new std::vector<std::coroutine_handle<>>;
  tls.deferred->push_back(h);
}

void destroy_deferred() noexcept {
  // Called at depth 0: each destruction may defer more frames, drained here.
  while (tls.deferred && !tls.deferred->empty()) {
    std::coroutine_handle<> h = tls.deferred->back();
    tls.deferred->pop_back();
    ++tls.destroy_depth;
    h.destroy();
    --tls.destroy_depth;
  }
  delete std::exchange(tls.deferred, nullptr);
}

namespace {

// CPython's process-wide _task_name_counter, used only by unnamed tasks.
std::uint64_t next_task_id() noexcept {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

LoopCore& running_core() {
  if (!tls.running) throw RuntimeError("no running event loop");
  return *tls.running;
}

void TaskCore::release_task() noexcept {
  if (flags_ & (f_log_traceback | f_traced)) [[unlikely]] {
    // The handler runs in the task's context (test_task_exc_handler_correct_context).
    ContextSwitch in_context(context_);
    report_unretrieved();
  }
  // One test for the common case: a default name and no context.
  if (!(name_ & 1) || context_) [[unlikely]] {
    if (!(name_ & 1)) delete reinterpret_cast<std::string*>(name_);
    // Zeroed: when the task's last step frees it, tls.context points here
    // until that step returns, and what the rest of the frame's destruction
    // runs (done-callbacks' destructors) reads an empty context.
    release_slot(std::exchange(context_, 0));
  }
}

void TaskCore::start(LoopCore* loop, std::coroutine_handle<> top, std::string& name) {
  attach(loop);
  refs_ = 2;  // the loop's, and the Task handle's
  flags_ |= f_task;
  depth_ = 0;  // each step resumes it from the trampoline
  link_ = top;
  cancels_ = 0;
  context_ = capture_context();  // ≙ contextvars.copy_context() in Task.__init__
  name_ = name.empty() ? (next_task_id() << 1) | 1 : reinterpret_cast<std::uintptr_t>(new std::string(std::move(name)));
  prev_ = nullptr;
  next_ = loop->tasks;
  if (next_) next_->prev_ = this;
  loop->tasks = this;
  ++loop->task_count;
}

void TaskCore::unlink() noexcept {
  if (prev_)
    prev_->next_ = next_;
  else
    loop_->tasks = next_;
  if (next_) next_->prev_ = prev_;
  --loop_->task_count;
}

std::string TaskCore::get_name() const {
  if (name_ & 1) return "Task-" + std::to_string(name_ >> 1);
  return *reinterpret_cast<const std::string*>(name_);
}

void TaskCore::set_name(std::string name) {
  if (name_ & 1)
    name_ = reinterpret_cast<std::uintptr_t>(new std::string(std::move(name)));
  else
    *reinterpret_cast<std::string*>(name_) = std::move(name);
}

std::string TaskCore::repr() const {
  // ≙ base_tasks._task_repr_info: a pending task asked to cancel is "cancelling".
  const char* state = state_ == State::pending    ? (cancels_ > 0 ? "cancelling" : "pending")
                      : state_ == State::cancelled ? "cancelled"
                                                   : "finished";
  std::string text = std::string("<Task ") + state + " name='" + get_name() + "'";
  // Debug mode adds what CPython's shows beside the coro: what the task
  // waits on and where it was created (≙ wait_for=, created at).
  if (loop_->debug || (flags_ & f_traced)) {
    if (FutureCore* w = waiter()) text += " wait_for=" + describe_future(*w);
    text += created_at(creation_site());
  }
  return text + ">";
}

bool TaskCore::cancel(std::string msg) {
  flags_ &= ~f_log_traceback;
  if (done()) return false;
  ++cancels_;
  // Cancelling what the task waits on wakes it with that CancelledError.
  if (FutureCore* w = waiter(); w && w->cancel(msg)) return true;
  flags_ |= f_must_cancel;
  exc_ = make_cancelled_error(std::move(msg));
  return true;
}

int TaskCore::uncancel() noexcept {
  if (cancels_ > 0 && --cancels_ == 0 && (flags_ & f_must_cancel)) {
    flags_ &= ~f_must_cancel;
    exc_ = nullptr;
  }
  return static_cast<int>(cancels_);
}

void TaskCore::throw_pending_cancel() {
  flags_ &= ~f_must_cancel;
  std::exception_ptr e = std::exchange(exc_, nullptr);
  std::rethrow_exception(e);
}

void TaskCore::suspend_on(AwaitPoint& at) noexcept {
  FutureCore& f = *at.future;
  point_ = reinterpret_cast<std::uintptr_t>(&at) | 1;
  f.incref();
  f.add_callback(this);
  if ((flags_ & f_must_cancel) && f.cancel(cancel_message(exc_))) {
    flags_ &= ~f_must_cancel;
    exc_ = nullptr;
  }
}

void TaskCore::on_done(FutureCore&) {
  // The future this task awaits is done: wake the task.
  run_ready(false);
}

void TaskCore::run_ready(bool discard) noexcept {
  if (done()) return FutureCore::run_ready(discard);
  if (discard) return;  // close() orphans the task itself
  if (at_point()) leave_point()->decref();  // woken by the future it awaited
  step();
}

void TaskCore::step() noexcept {
  ContextSwitch in_context(context_);  // ≙ self._context.run(self.__step_run_and_handle_result)
  LoopCore* loop = loop_;
  TaskCore* outer = loop->current_task;
  loop->current_task = this;
  if (!(flags_ & f_started)) {
    flags_ |= f_started;
    if (link_.done()) {
      // An exhausted coroutine: CPython's first step raises here.
      loop->current_task = outer;
      flags_ &= ~f_must_cancel;
      exc_ = std::make_exception_ptr(RuntimeError("cannot reuse already awaited coroutine"));
      end(State::finished);
      return;
    }
    if (flags_ & f_must_cancel) {
      // Cancelled before its first step: the body never runs (spec C2).
      flags_ &= ~f_must_cancel;
      loop->current_task = outer;
      end(State::cancelled);
      return;
    }
  }
  // The trampoline: frames hand each other over through tls.next instead of
  // resuming one another, so the native stack stays flat.
  std::coroutine_handle<> h = link_;
  do {
    tls.next = nullptr;
    h.resume();
    h = tls.next;
  } while (h);
  loop->current_task = outer;
}

void TaskCore::complete() noexcept {
  State s = State::finished;
  if (flags_ & f_must_cancel) {
    // Cancelled while running and returned without awaiting again: the
    // value was dropped and the task ends cancelled (test_cancel_at_end).
    flags_ &= ~f_must_cancel;
    s = State::cancelled;
  } else if (exc_) {
    switch (classify(exc_)) {
      case ExceptionKind::cancelled:
        s = State::cancelled;
        break;
      case ExceptionKind::fatal:
        loop_->fatal = exc_;
        break;
      case ExceptionKind::ordinary:
        break;
    }
  }
  end(s);
}

void TaskCore::end(State s) noexcept {
  finish(s);
  unlink();
  decref();  // the loop's reference: may free the frame
}

void TaskCore::orphan() noexcept {
  ExceptionContext ctx;
  ctx.message = "Task was destroyed but it is pending!";
  ctx.task = repr();
  ctx.source = this;
  if (const std::source_location* site = creation_site()) ctx.source_traceback = *site;
  report(loop_, ctx);
  if (at_point()) {
    FutureCore* w = leave_point();
    w->remove_callback(this);
    w->decref();
  }
  // The callbacks can never run now. Let go of them: one that holds this
  // task (run_coroutine_threadsafe's, a user's lambda capturing the handle)
  // would otherwise keep it alive for good.
  callbacks_.clear();
  unlink();
  decref();
}

bool suspend_current_task(AwaitPoint& at, const char*& error) noexcept {
  FutureCore& f = *at.future;
  TaskCore* t = tls.running ? tls.running->current_task : nullptr;
  if (!t) {
    error = "await outside of a task";
    return false;
  }
  if (&f == t) {
    error = "self";
    return false;
  }
  if (f.loop() != t->loop()) {
    error = "loop";
    return false;
  }
  t->suspend_on(at);
  return true;
}

void deliver_pending_cancel(FutureCore& f) {
  TaskCore* t = tls.running->current_task;
  if (!t->must_cancel_pending()) return;
  // Woken with a CancelledError already (the awaited future was cancelled,
  // possibly by this very cancellation): that one is delivered, as CPython's
  // __step keeps a CancelledError it is given (first message wins, C5).
  if (f.stored_exception() && is_cancelled_error(f.stored_exception()))
    t->withdraw_pending_cancel();
  else
    t->deliver_pending_cancel();
}

void throw_await_error(const char* error, FutureCore& f) {
  const std::string what = error;
  TaskCore* t = tls.running ? tls.running->current_task : nullptr;
  if (what == "self") throw RuntimeError("Task cannot await on itself: " + t->repr());
  if (what == "loop") {
    std::string fut = f.is_task() ? static_cast<TaskCore&>(f).repr() : "<Future pending>";
    throw RuntimeError("Task " + t->repr() + " got Future " + fut + " attached to a different loop");
  }
  throw RuntimeError(what);
}

char consumed_frame;
char running_frame;

void throw_unusable_coroutine(bool consumed) {
  if (consumed) throw_reused_coroutine();
  throw std::invalid_argument("a coroutine was expected, got an empty Coroutine");
}

void throw_reused_coroutine() { throw RuntimeError("cannot reuse already awaited coroutine"); }
void throw_coroutine_running() { throw RuntimeError("coroutine is being awaited already"); }

void miscompiled_coroutine() noexcept {
  std::fputs(
      "asyncio: GCC 12 miscompiled a coroutine (its frame is laid out 8 bytes off).\n"
      "  GCC 12 lays out the frame of a coroutine wrongly when an `if` or `while` condition is a\n"
      "  co_await and the coroutine has no other local variable, e.g.\n"
      "      if (co_await lock.acquire()) ...      while (co_await reader.read(1) != \"\") ...\n"
      "  Put the result in a variable first:  bool ok = co_await lock.acquire(); if (ok) ...\n"
      "  (or build with clang, or GCC 13 or later). See docs/design-notes.md, \"Compilers\".\n",
      stderr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail

std::coroutine_handle<> TaskRef::get_coro() const { return detail::frame_of(*live()); }

std::vector<std::coroutine_handle<>> TaskRef::get_stack(std::optional<int> limit) const {
  std::vector<std::coroutine_handle<>> frames = detail::stack_of(*live());
  if (limit && static_cast<std::size_t>(std::max(*limit, 0)) < frames.size())
    frames.resize(static_cast<std::size_t>(std::max(*limit, 0)));
  std::reverse(frames.begin(), frames.end());  // outermost first
  return frames;
}

void TaskRef::print_stack(std::optional<int> limit, std::ostream* file) const {
  // ≙ base_tasks._task_print_stack.
  std::ostream& out = file ? *file : std::cerr;
  const std::vector<std::coroutine_handle<>> frames = get_stack(limit);
  const std::string r = repr();
  if (frames.empty())
    out << "No stack for " << r << '\n';
  else
    out << "Stack for " << r << " (most recent call last):\n";
  for (std::coroutine_handle<> h : frames) out << "  <coroutine " << h.address() << ">\n";
  detail::TaskCore& t = *live();
  if (t.done() && !t.cancelled() && t.stored_exception()) out << describe(t.stored_exception()) << '\n';
}

void TaskRef::unsupported(const char* what) {
  throw RuntimeError(std::string("Task does not support ") + what + " operation");
}



namespace {

TaskRef ref(detail::TaskCore* t) {
  if (!t) return TaskRef();
  t->incref();
  return TaskRef(t);
}

std::vector<TaskRef> pending_tasks(detail::LoopCore& loop) {
  std::vector<TaskRef> out;
  out.reserve(loop.task_count);
  for (detail::TaskCore* t = loop.tasks; t; t = t->next_in_loop()) out.push_back(ref(t));
  std::reverse(out.begin(), out.end());  // creation order
  return out;
}

}  // namespace

TaskRef current_task() { return ref(detail::running_core().current_task); }
TaskRef current_task(EventLoop& loop) { return ref(loop.core().current_task); }
std::vector<TaskRef> all_tasks() { return pending_tasks(detail::running_core()); }
std::vector<TaskRef> all_tasks(EventLoop& loop) { return pending_tasks(loop.core()); }

}  // namespace asyncio

namespace asyncio::detail {

void check_same_loop(LoopCore* expected, FutureCore* f) {
  if (f->loop() != expected)
    throw std::invalid_argument("The future belongs to a different loop than the one specified as the loop argument");
}

}  // namespace asyncio::detail
