// asyncio-cpp: SPDX-License-Identifier: MIT
// The untyped part of a Task, which is also the base of every coroutine
// promise: a coroutine frame becomes a task in place, with no second
// allocation. ≙ the Task class of Lib/asyncio/tasks.py
#ifndef ASYNCIO_DETAIL_TASK_CORE_HPP
#define ASYNCIO_DETAIL_TASK_CORE_HPP

#include <asyncio/detail/context_core.hpp>
#include <asyncio/detail/future_core.hpp>

#include <coroutine>
#include <string>

namespace asyncio::detail {

/// Where a task is suspended on a future: kept by the awaiter, in the
/// suspended frame, for as long as the suspension lasts.
struct AwaitPoint {
  FutureCore* future;
  std::coroutine_handle<> frame;
};

/// A Task's state machine (spec §1.3, §4).
///
/// As the promise of a plain awaited coroutine only `link_`, `exc_` and the
/// flags are used (the rest is set by start()). `link_` is, for an awaited
/// coroutine, the frame awaiting it; for a task's top frame, the innermost
/// suspended frame that the next step resumes.
class TaskCore : public FutureCore {
 public:
  /// Task.cancel(msg): false if done; else counts the request and cancels
  /// the awaited future, or arranges for CancelledError to be thrown in at
  /// the next step; true.
  bool cancel(std::string msg) override;
  int cancelling() const noexcept { return static_cast<int>(cancels_); }
  int uncancel() noexcept;
  std::string get_name() const;
  void set_name(std::string name);
  /// `<Task pending name='Task-1'>`, as CPython's repr (without the coro).
  std::string repr() const;

  /// Makes this detached frame a pending task of `loop` (refs: the loop's
  /// and the caller's). launch() then schedules its first step.
  /// `name` is moved from when not empty.
  void start(LoopCore* loop, std::coroutine_handle<> top, std::string& name);
  void start(LoopCore* loop, std::coroutine_handle<> top) {
    std::string none;
    start(loop, top, none);
  }
  /// Schedules the first step, or runs it now for an eager task on a
  /// running loop (spec §1.6: up to the first real suspension).
  void launch() noexcept {
    if (loop_->eager_tasks && tls.running == loop_)
      step();
    else
      loop_->push(this);
  }
  /// The top frame reached final_suspend: records the outcome.
  void complete() noexcept;

  /// Awaiters: suspend this task on `at.future` at frame `at.frame`.
  void suspend_on(AwaitPoint& at) noexcept;
  /// The future the task is suspended on, if any (CPython's _fut_waiter).
  FutureCore* waiter() const noexcept { return at_point() ? point()->future : nullptr; }
  /// The innermost suspended frame, the one the next step resumes (the top
  /// frame before the first step); meaningless while a step runs, null
  /// once done (get_stack(), capture_call_graph()).
  std::coroutine_handle<> suspended_frame() const noexcept {
    if (done()) return nullptr;
    return at_point() ? point()->frame : link_;
  }
  /// Awaiters: re-queue this task at the tail (sleep(0)).
  void yield_at(std::coroutine_handle<> h) noexcept {
    link_ = h;
    loop_->push(this);
  }
  /// Awaiters: throws the CancelledError that cancel() left pending.
  void deliver_pending_cancel() {
    if (flags_ & f_must_cancel) throw_pending_cancel();
  }
  bool must_cancel_pending() const noexcept { return flags_ & f_must_cancel; }
  void withdraw_pending_cancel() noexcept {
    flags_ &= ~f_must_cancel;
    exc_ = nullptr;
  }

  void run_ready(bool discard) noexcept override;
  void on_done(FutureCore& f) override;
  /// The loop is closing with this task pending: report it, detach it from
  /// what it waits on, and drop the loop's reference.
  void orphan() noexcept;

  bool is_inline() const noexcept { return flags_ & f_inline; }
  unsigned depth() const noexcept { return depth_; }
  void set_depth(unsigned d) noexcept { depth_ = static_cast<std::uint8_t>(d); }
  void set_inline(bool on) noexcept {
    if (on)
      flags_ |= f_inline;
    else
      flags_ &= ~f_inline;
  }
  /// The next pending task of the same loop (all_tasks()).
  TaskCore* next_in_loop() const noexcept { return next_; }
  /// The context the task's steps run in (a copy of its creator's).
  ContextSlot& context_slot() noexcept { return context_; }
  /// Runs the task in `context` itself (create_task(..., context)).
  void set_context(ContextCore* context) noexcept { share_core(context_, context); }

  union {
    /// An awaited frame: the awaiting frame. A task's top frame: the
    /// innermost suspended frame, which the next step resumes.
    std::coroutine_handle<> link_ = nullptr;
    /// An inline-awaited frame (f_inline): its InlineResult<T>.
    void* slot_;
    /// A task suspended on a future: its AwaitPoint, tagged with bit 0.
    std::uintptr_t point_;
  };

 protected:
  TaskCore() noexcept : FutureCore(FrameTag{}) {}
  ~TaskCore() {
    if (is_task()) release_task();
  }
  void unhandled() noexcept {
    exc_ = std::current_exception();
    flags_ &= ~f_must_cancel;
  }
  bool must_cancel() const noexcept { return flags_ & f_must_cancel; }

 private:
  void step() noexcept;
  bool at_point() const noexcept { return point_ & 1; }
  AwaitPoint* point() const noexcept { return reinterpret_cast<AwaitPoint*>(point_ & ~std::uintptr_t{1}); }
  /// Leaves the AwaitPoint: drops the future, keeps the frame to resume.
  FutureCore* leave_point() noexcept {
    AwaitPoint* at = point();
    link_ = at->frame;
    return at->future;
  }
  void release_task() noexcept;
  [[noreturn]] void throw_pending_cancel();
  void end(State s) noexcept;
  void unlink() noexcept;

  TaskCore* prev_;
  TaskCore* next_;
  /// (id << 1) | 1 for the default name Task-<id>, else a std::string*.
  std::uintptr_t name_;
  std::uint32_t cancels_;
  /// Set by start() to a copy of the creator's context (contextvars.hpp).
  ContextSlot context_;
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_TASK_CORE_HPP
