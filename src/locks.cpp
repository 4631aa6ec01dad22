// asyncio-cpp: SPDX-License-Identifier: MIT
// Lock, Event, Condition, Semaphore, Barrier, and the loop binding they share
// with the queues. ≙ Lib/asyncio/locks.py and mixins.py (CPython 3.13)
#include <asyncio/locks.hpp>

#include <asyncio/events.hpp>
#include <asyncio/tasks.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace asyncio {

namespace detail {

LoopCore* LoopBinding::bind(const void* self, const char* name) {
  LoopCore& running = running_core();  // RuntimeError("no running event loop")
  if (!loop_) {
    loop_ = &running;
    loop_->incref();
  } else if (loop_ != &running) {
    char repr[128];
    std::snprintf(repr, sizeof repr, "<asyncio.%s object at %p>", name, self);
    throw RuntimeError(std::string(repr) + " is bound to a different event loop");
  }
  return loop_;
}

void report_guard_release_error(std::exception_ptr e) noexcept {
  ExceptionContext ctx;
  ctx.message = "Exception in LockGuard release";
  ctx.exception = std::move(e);
  if (tls.running && tls.running->owner)
    tls.running->owner->call_exception_handler(ctx);
  else
    std::fprintf(stderr, "%s: %s\n", ctx.message.c_str(), describe(ctx.exception).c_str());
}

}  // namespace detail

// ------------------------------------------------------------------- Lock

Coroutine<bool> Lock::acquire() {
  // Fair: a free lock is taken at once only when nobody (alive) is queued.
  if (!locked_ && waiters_.all_cancelled()) {
    locked_ = true;
    co_return true;
  }
  {
    detail::WaitEntry fut(waiters_, binding_.get(this, "locks.Lock"));
    try {
      co_await fut;
    } catch (const CancelledError&) {
      // Keep the invariant: if the lock is free and somebody waits, the
      // first waiter will run, even if the wake-up was meant for us.
      fut.remove();
      if (!locked_) wake_up_first();
      throw;
    }
  }
  locked_ = true;
  co_return true;
}

void Lock::release() {
  if (!locked_) throw RuntimeError("Lock is not acquired.");
  locked_ = false;
  wake_up_first();
}

void Lock::wake_up_first() noexcept {
  // Only the head: if it is done (woken already, or cancelled) its task
  // runs soon and passes the wake-up on from acquire() if it must.
  if (detail::Waiter* first = waiters_.front()) first->wake();
}

// ------------------------------------------------------------------ Event

void Event::set() noexcept {
  if (value_) return;
  value_ = true;
  waiters_.wake(waiters_.size());
}

Coroutine<bool> Event::wait() {
  if (value_) co_return true;
  detail::WaitEntry fut(waiters_, binding_.get(this, "locks.Event"));
  co_await fut;
  co_return true;
}

// -------------------------------------------------------------- Condition

Coroutine<bool> Condition::wait() {
  if (!locked()) throw RuntimeError("cannot wait on un-acquired lock");
  detail::LoopCore* loop = binding_.get(this, "locks.Condition");
  release();
  // Whatever ends the wait (a notification, a cancellation, an error), the
  // lock is re-acquired before leaving, then the exception (if any) goes on.
  std::exception_ptr error;
  {
    detail::WaitEntry fut(waiters_, loop);
    try {
      co_await fut;
    } catch (...) {
      error = std::current_exception();
    }
  }
  // Retry through cancellations; the last CancelledError is the one raised.
  for (;;) {
    try {
      co_await acquire();
      break;
    } catch (const CancelledError&) {
      error = std::current_exception();
    } catch (...) {
      error = std::current_exception();
      break;
    }
  }
  if (error) {
    // This task may have been notified before the error: hand the
    // notification to another waiter (a spurious wake-up at worst).
    waiters_.wake(1);
    std::rethrow_exception(error);
  }
  co_return true;
}

void Condition::notify(std::size_t n) {
  if (!locked()) throw RuntimeError("cannot notify on un-acquired lock");
  waiters_.wake(n);
}

// -------------------------------------------------------------- Semaphore

Semaphore::Semaphore(std::ptrdiff_t value, bool bounded) : value_(value), bound_(bounded ? value : -1) {
  if (value < 0) throw std::invalid_argument("Semaphore initial value must be >= 0");
}

Coroutine<bool> Semaphore::acquire() {
  if (!locked()) {
    --value_;
    co_return true;
  }
  {
    detail::WaitEntry fut(waiters_, binding_.get(this, "locks.Semaphore"));
    try {
      co_await fut;
    } catch (...) {
      fut.remove();
      // Woken, so release() reserved a unit for this task, which now will
      // not take it (the only exception after a wake-up is a cancellation):
      // give it back.
      if (fut.woken()) ++value_;
      wake_up_while_free();
      throw;
    }
  }
  wake_up_while_free();
  co_return true;
}

void Semaphore::release() {
  if (bound_ >= 0 && value_ >= bound_) throw std::invalid_argument("BoundedSemaphore released too many times");
  ++value_;
  wake_up_next();
}

bool Semaphore::wake_up_next() noexcept {
  // The unit is reserved at wake time (a direct hand-off): a task calling
  // acquire() before the woken one runs cannot take it.
  if (waiters_.wake(1) == 0) return false;
  --value_;
  return true;
}

void Semaphore::wake_up_while_free() noexcept {
  // Waiters that queued behind us under the FIFO rule while units were free
  // may go now.
  while (value_ > 0 && wake_up_next()) {
  }
}

// ---------------------------------------------------------------- Barrier

Barrier::Barrier(std::ptrdiff_t parties) : parties_(parties) {
  if (parties < 1) throw std::invalid_argument("parties must be > 0");
}

Coroutine<std::ptrdiff_t> Barrier::wait() {
  auto held = co_await cond_.guard();
  // Arrivals wait while the previous round drains or resets.
  co_await cond_.wait_for([this] { return state_ != State::draining && state_ != State::resetting; });
  if (state_ == State::broken) throw BrokenBarrierError("Barrier aborted");
  const std::ptrdiff_t index = count_++;
  try {
    if (index + 1 == parties_) {
      state_ = State::draining;  // the last arrival releases everyone
      cond_.notify_all();
    } else {
      co_await cond_.wait_for([this] { return state_ != State::filling; });
      if (state_ == State::broken || state_ == State::resetting)
        throw BrokenBarrierError("Abort or reset of barrier");
    }
  } catch (...) {
    exit_one();
    throw;
  }
  exit_one();
  co_return index;
}

void Barrier::exit_one() noexcept {
  // The last task out of a drain or reset lets the next round fill.
  if (--count_ != 0) return;
  if (state_ == State::resetting || state_ == State::draining) state_ = State::filling;
  cond_.notify_all();
}

Coroutine<> Barrier::reset() {
  auto held = co_await cond_.guard();
  if (count_ > 0)
    state_ = State::resetting;
  else
    state_ = State::filling;
  cond_.notify_all();
}

Coroutine<> Barrier::abort() {
  auto held = co_await cond_.guard();
  state_ = State::broken;
  cond_.notify_all();
}

// ---- reprs ---------------------------------------------------------------------

namespace {

/// `<asyncio.locks.NAME object at 0x... [EXTRA]>`, as the primitives' __repr__.
std::string primitive_repr(const char* name, const void* self, std::string extra, std::size_t waiters) {
  if (waiters) extra += ", waiters:" + std::to_string(waiters);
  char head[96];
  std::snprintf(head, sizeof head, "<asyncio.locks.%s object at %p [", name, self);
  return head + extra + "]>";
}

}  // namespace

std::string Lock::repr() const { return primitive_repr("Lock", this, locked_ ? "locked" : "unlocked", waiters_.size()); }

std::string Event::repr() const { return primitive_repr("Event", this, value_ ? "set" : "unset", waiters_.size()); }

std::string Condition::repr() const {
  return primitive_repr("Condition", this, locked() ? "locked" : "unlocked", waiters_.size());
}

std::string Semaphore::repr() const {
  const char* name = bound_ >= 0 ? "BoundedSemaphore" : "Semaphore";
  return primitive_repr(name, this, locked() ? "locked" : "unlocked, value:" + std::to_string(value_),
                        waiters_.size());
}

std::string Barrier::repr() const {
  static const char* const states[] = {"filling", "draining", "resetting", "broken"};
  std::string extra = states[static_cast<int>(state_)];
  if (!broken()) extra += ", waiters:" + std::to_string(n_waiting()) + "/" + std::to_string(parties_);
  return primitive_repr("Barrier", this, std::move(extra), 0);
}

}  // namespace asyncio
