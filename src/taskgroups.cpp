// asyncio-cpp: SPDX-License-Identifier: MIT
// The TaskGroup state machine. ≙ Lib/asyncio/taskgroups.py (3.13)
#include <asyncio/taskgroups.hpp>

#include <asyncio/detail/frame_allocator.hpp>

#include "detail/report.hpp"

namespace asyncio {

/// A task of the group: its done-callback and its link in the group's list
/// of tasks not done (CPython's _tasks set). One small block per task from
/// the frame allocator; the callback registration allocates nothing more.
struct TaskGroup::Child final : detail::ReadyNode {
  Child(TaskGroup& g, detail::TaskCore* t) noexcept : group(&g), task(t) {}

  void on_done(detail::FutureCore&) override { group->on_task_done(*this); }
  // The task's frame is going away without having run its callbacks (its
  // loop closed): only forget it.
  void release_callback() noexcept override {
    group->unlink(*this);
    delete this;
  }

  static void* operator new(std::size_t n) { return detail::allocate_frame(n); }
  static void operator delete(void* p, std::size_t n) noexcept { detail::deallocate_frame(p, n); }

  TaskGroup* group;
  detail::TaskCore* task;  // not counted: the loop holds a pending task
  Child* prev = nullptr;
  Child* next = nullptr;
};

namespace {

// Python's _is_base_error: the exceptions a group raises bare.
bool is_base_error(const std::exception_ptr& e) noexcept {
  return detail::classify(e) == detail::ExceptionKind::fatal;
}

}  // namespace

TaskGroup::~TaskGroup() { detach(); }

void TaskGroup::detach() noexcept {
  // Removing each registration calls Child::release_callback, which unlinks
  // it.
  while (first_) first_->task->remove_callback(first_);
  parent_ = nullptr;
  if (entered_) exiting_ = true;  // create_task() now says "is finished"

  if (loop_) std::exchange(loop_, nullptr)->decref();
}

std::string TaskGroup::repr() const {
  std::string info;
  if (ntasks_) info += " tasks=" + std::to_string(ntasks_);
  if (!errors_.empty()) info += " errors=" + std::to_string(errors_.size());
  if (aborting_)
    info += " cancelling";
  else if (entered_)
    info += " entered";
  return "<TaskGroup" + info + ">";
}

void TaskGroup::enter() {
  if (entered_) throw RuntimeError("TaskGroup " + repr() + " has already been entered");
  detail::LoopCore* loop = detail::tls.running;
  detail::TaskCore* parent = loop ? loop->current_task : nullptr;
  if (!parent) throw RuntimeError("TaskGroup " + repr() + " cannot determine the parent task");
  loop_ = loop;
  loop_->incref();
  parent_ = parent;
  entered_ = true;
}

void TaskGroup::check_open() const {
  if (!entered_) throw RuntimeError("TaskGroup " + repr() + " has not been entered");
  if (exiting_ && ntasks_ == 0) throw RuntimeError("TaskGroup " + repr() + " is finished");
  if (aborting_) throw RuntimeError("TaskGroup " + repr() + " is shutting down");
}

void TaskGroup::adopt(detail::TaskCore* task) {
  auto* c = new Child(*this, task);
  c->prev = last_;
  if (last_)
    last_->next = c;
  else
    first_ = c;
  last_ = c;
  ++ntasks_;
  // As CPython (gh-128550): always through a done-callback, even for a task
  // that would already be done (an eager one), so that its failure cannot
  // cancel the block before create_task() returns.
  task->add_done(c);
}

void TaskGroup::unlink(Child& c) noexcept {
  (c.prev ? c.prev->next : first_) = c.next;
  (c.next ? c.next->prev : last_) = c.prev;
  --ntasks_;
}

void TaskGroup::abort() {
  aborting_ = true;
  // cancel() runs no user code (it schedules wake-ups), so the list cannot
  // change under the iteration.
  for (Child* c = first_; c; c = c->next)
    if (!c->task->done()) c->task->cancel({});
}

void TaskGroup::on_task_done(Child& c) {
  detail::TaskCore& task = *c.task;
  unlink(c);
  delete &c;

  if (on_completed_ && ntasks_ == 0 && !on_completed_.done()) on_completed_.set_result();
  if (task.cancelled()) return;
  std::exception_ptr exc = task.stored_exception();
  if (!exc) return;
  task.mark_retrieved();  // ≙ task.exception()

  errors_.push_back(exc);
  if (is_base_error(exc) && !base_error_) base_error_ = exc;

  if (!parent_ || parent_->done()) {
    // CPython: "Not sure if this case is possible, but we want to handle
    // it anyways."
    ExceptionContext ctx;
    ctx.message = "Task " + task.repr() + " has errored out but its parent task " +
                  (parent_ ? parent_->repr() : std::string("None")) + " is already completed";
    ctx.exception = exc;
    ctx.task = task.repr();
    ctx.source = &task;
    if (loop_ && loop_->owner) loop_->owner->call_exception_handler(ctx);
    return;
  }

  if (!aborting_ && !parent_cancel_requested_) {
    // The block must stop what it awaits, but its task must end up not
    // cancelled: exit() takes this cancel() back with uncancel().
    abort();
    parent_cancel_requested_ = true;
    parent_->cancel({});
  }
}

Coroutine<> TaskGroup::exit(std::exception_ptr exc) {
  exiting_ = true;
  // ≙ the `finally` of __aexit__: the group lets go of the parent and the
  // errors whatever happens.
  struct Finally {
    TaskGroup& g;
    ~Finally() {
      g.parent_ = nullptr;
      g.errors_.clear();
      g.base_error_ = nullptr;
    }
  } finally{*this};

  const detail::ExceptionKind kind = exc ? detail::classify(exc) : detail::ExceptionKind::ordinary;
  if (exc && kind == detail::ExceptionKind::fatal && !base_error_) base_error_ = exc;

  std::exception_ptr propagate_cancellation_error;
  if (exc && kind == detail::ExceptionKind::cancelled) propagate_cancellation_error = exc;

  // The block's task is being cancelled, or the block raised: stop the
  // tasks.
  if (exc && !aborting_) abort();

  // A loop, because the wait can be cancelled several times if the task is
  // cancelled repeatedly (or once while our own cancellation is pending).
  while (ntasks_ > 0) {
    if (!on_completed_) on_completed_ = loop_->owner->create_future();
    try {
      co_await on_completed_;
    } catch (const CancelledError&) {
      if (!aborting_) {
        // The task is cancelled from outside while the group waits.
        propagate_cancellation_error = std::current_exception();
        abort();
      }
    }
    on_completed_ = Future<>();
  }

  if (base_error_) std::rethrow_exception(base_error_);

  if (parent_cancel_requested_) {
    // Our cancel() must be taken back. If no other request is left, the
    // CancelledError it caused is not propagated.
    if (parent_->uncancel() == 0) propagate_cancellation_error = nullptr;
  }

  // A CancelledError propagates unless there are errors: they win.
  if (propagate_cancellation_error && errors_.empty()) std::rethrow_exception(propagate_cancellation_error);

  if (exc && kind != detail::ExceptionKind::cancelled) errors_.push_back(exc);

  if (!errors_.empty()) {
    // If the task is being cancelled from outside, uncancel() and cancel()
    // again: the count stays, and the next co_await raises CancelledError.
    if (parent_->cancelling()) {
      parent_->uncancel();
      parent_->cancel({});
    }
    throw ExceptionGroup("unhandled errors in a TaskGroup", std::move(errors_));
  }
}

}  // namespace asyncio
