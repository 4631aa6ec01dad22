// asyncio-cpp: SPDX-License-Identifier: MIT
// The item-independent part of the queues. ≙ Lib/asyncio/queues.py (3.13)
#include <asyncio/queues.hpp>

#include <algorithm>
#include <stdexcept>

namespace asyncio::detail {

void QueueBase::task_done() {
  if (unfinished_ == 0) throw std::invalid_argument("task_done() called too many times");
  if (--unfinished_ == 0) finished_.set();
}

Coroutine<> QueueBase::join() {
  if (unfinished_ > 0) co_await finished_.wait();
}

void QueueBase::refuse_put() const {
  if (shutdown_) throw QueueShutDown();
  throw QueueFull();
}

void QueueBase::refuse_get() const {
  if (shutdown_) throw QueueShutDown();
  throw QueueEmpty();
}

void QueueBase::close(bool immediate, std::size_t dropped) noexcept {
  shutdown_ = true;
  if (immediate) {
    // Each dropped item counts as processed (which may release join()).
    size_ = 0;
    unfinished_ -= std::min(dropped, unfinished_);
    if (unfinished_ == 0) finished_.set();
  }
  // Every waiter re-checks the queue and raises QueueShutDown if it must.
  while (!getters_.empty()) getters_.pop_wake_one();
  while (!putters_.empty()) putters_.pop_wake_one();
}

bool QueueWaiting::suspend(std::coroutine_handle<> h) noexcept {
  // Shut down: `raise QueueShutDown` instead of waiting (put_nowait() or
  // get_nowait() raises it in resume()).
  if (q_->shutdown_) return false;
  try {
    entry_.emplace(waiters(), q_->binding_.get(q_, "queues.Queue"), &recheck, this);
  } catch (...) {
    error_ = std::current_exception();  // no running loop, or another loop
    return false;
  }
  awaiter_.emplace(entry_->operator co_await());
  if (!awaiter_->await_suspend(h)) return false;  // not in a task: resume() says so
  task_ = tls.running->current_task;
  return true;
}

void QueueWaiting::resume() {
  if (reused_) throw_reused_coroutine();
  if (error_) std::rethrow_exception(error_);
  if (!awaiter_) return;  // no wait was needed, or shut down
  try {
    awaiter_->await_resume();
  } catch (...) {
    // The wake-up (if any) came with an item or a slot that this task will
    // not use: whoever is next in line gets it (≙ `if not self.full() and
    // not putter.cancelled(): self._wakeup_next(self._putters)`). A waiter
    // still pending was never woken, and only needs unlinking.
    entry_->remove();
    if (ready() && entry_->woken()) waiters().pop_wake_one();
    awaiter_.reset();
    entry_.reset();
    throw;
  }
  awaiter_.reset();
  entry_.reset();
}

bool QueueWaiting::recheck(void* self, Waiter& w) noexcept {
  auto* op = static_cast<QueueWaiting*>(self);
  // The woken task would find the queue full (or empty) again, someone
  // having taken the slot (or the item) first: it waits anew, at the back
  // of the line, without having to run. Shut down, or with a cancellation
  // to deliver, it runs instead (and raises).
  if (op->ready() || op->q_->shutdown_ || op->task_->must_cancel_pending()) return false;
  w.rearm();
  op->waiters().push_back(w);
  return true;
}

}  // namespace asyncio::detail
