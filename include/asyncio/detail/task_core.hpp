// asyncio-cpp: SPDX-License-Identifier: MIT
// The untyped part of a Task, which is also the base of every coroutine
// promise: a coroutine frame becomes a task in place, with no second
// allocation. ≙ the Task class of Lib/asyncio/tasks.py
#ifndef ASYNCIO_DETAIL_TASK_CORE_HPP
#define ASYNCIO_DETAIL_TASK_CORE_HPP

#include <asyncio/detail/future_core.hpp>

#include <coroutine>
#include <string>

namespace asyncio::detail {

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
  /// and the caller's) and schedules its first step.
  void start(LoopCore* loop, std::coroutine_handle<> top, std::string name);
  /// The top frame reached final_suspend: records the outcome.
  void complete() noexcept;

  /// Awaiters: suspend this task on `f` at frame `h`.
  void suspend_on(FutureCore& f, std::coroutine_handle<> h) noexcept;
  /// Awaiters: re-queue this task at the tail (sleep(0)).
  void yield_at(std::coroutine_handle<> h) noexcept {
    link_ = h;
    loop_->push(this);
  }
  /// Awaiters: throws the CancelledError that cancel() left pending.
  void deliver_pending_cancel() {
    if (flags_ & f_must_cancel) throw_pending_cancel();
  }

  void run_ready(bool discard) noexcept override;
  /// The loop is closing with this task pending: report it, detach it from
  /// what it waits on, and drop the loop's reference.
  void orphan() noexcept;

  /// The next pending task of the same loop (all_tasks()).
  TaskCore* next_in_loop() const noexcept { return next_; }

  std::coroutine_handle<> link_ = nullptr;

 protected:
  TaskCore() noexcept : FutureCore(FrameTag{}) {}
  ~TaskCore();
  void unhandled() noexcept {
    exc_ = std::current_exception();
    flags_ &= ~f_must_cancel;
  }
  bool must_cancel() const noexcept { return flags_ & f_must_cancel; }

 private:
  void step() noexcept;
  [[noreturn]] void throw_pending_cancel();
  void end(State s) noexcept;
  void unlink() noexcept;

  FutureCore* waiter_;
  TaskCore* prev_;
  TaskCore* next_;
  /// (id << 1) | 1 for the default name Task-<id>, else a std::string*.
  std::uintptr_t name_;
  std::uint32_t cancels_;

};

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_TASK_CORE_HPP
