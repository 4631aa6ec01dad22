// asyncio-cpp: SPDX-License-Identifier: MIT
// The Future state machine. ≙ Lib/asyncio/futures.py
#include <asyncio/futures.hpp>

#include <asyncio/detail/task_core.hpp>

#include "detail/debug.hpp"
#include "detail/report.hpp"

#include <atomic>

namespace asyncio::detail {

void throw_uninitialized_future() { throw RuntimeError("Future object is not initialized."); }

void CallbackList::push_more(ReadyNode* cb) {
  if (!spilled()) {
    auto* v = new Vec{one(), cb};
    v_ = reinterpret_cast<std::uintptr_t>(v) | 1;
  } else {
    vec()->push_back(cb);
  }
}

void CallbackList::clear() noexcept {
  if (spilled()) {
    Vec* v = vec();
    v_ = 0;
    for (ReadyNode* cb : *v) cb->release_callback();
    delete v;
  } else if (ReadyNode* cb = one()) {
    v_ = 0;
    cb->release_callback();
  }
}

std::uintptr_t next_callback_id() noexcept {
  // Odd values cannot collide with function addresses used as ids.
  static std::atomic<std::uintptr_t> counter{0};
  return (counter.fetch_add(1, std::memory_order_relaxed) << 1) | 1;
}

namespace {

// A callback added to a future that is already done: CPython schedules it
// on its own with call_soon, so it gets a ready-queue entry of its own.
class LateCallback final : public ReadyNode {
 public:
  LateCallback(ReadyNode* cb, FutureCore& f) noexcept : cb_(cb), f_(f) { f_.incref(); }
  void run_ready(bool discard) noexcept override {
    if (discard)
      cb_->release_callback();
    else
      run_callback(cb_, f_);
    f_.decref();
    delete this;
  }

 private:
  ReadyNode* cb_;
  FutureCore& f_;
};

}  // namespace

void run_callback(ReadyNode* cb, FutureCore& f) noexcept {
  try {
    cb->on_done(f);
  } catch (...) {
    report_callback_error(f.loop(), std::current_exception());
  }
}

void FutureCore::report_unretrieved() noexcept {
  if (flags_ & f_log_traceback) {
    flags_ &= ~f_log_traceback;
    ExceptionContext ctx;
    ctx.exception = exc_;
    ctx.source = this;
    if (const std::source_location* site = creation_site()) ctx.source_traceback = *site;
    try {
      if (is_task()) {
        ctx.message = "Task exception was never retrieved";
        ctx.task = static_cast<TaskCore*>(this)->repr();
      } else {
        ctx.message = "Future exception was never retrieved";
        ctx.future = "<Future finished exception=" + describe(exc_) + created_at(creation_site()) + ">";
      }
    } catch (...) {  // out of memory: the message alone
    }
    report(loop_, ctx);
  }
  if (flags_ & f_traced) {
    flags_ &= ~f_traced;
    loop_->records->sites.erase(this);
  }
}

void FutureCore::trace(std::source_location where) {
  if (!loop_->records) loop_->records = new DebugRecords;
  loop_->records->sites.insert_or_assign(this, where);
  flags_ |= f_traced;
}

const std::source_location* FutureCore::creation_site() const noexcept {
  if (!(flags_ & f_traced)) return nullptr;
  auto it = loop_->records->sites.find(this);
  return it == loop_->records->sites.end() ? nullptr : &it->second;
}

bool FutureCore::cancel(std::string msg) {
  flags_ &= ~f_log_traceback;
  if (done()) return false;
  exc_ = make_cancelled_error(std::move(msg));
  finish(State::cancelled);
  return true;
}

void FutureCore::check_result() {
  if (state_ == State::pending) throw InvalidStateError("Result is not set.");
  if (exc_) {
    flags_ &= ~f_log_traceback;
    std::rethrow_exception(exc_);
  }
}

std::exception_ptr FutureCore::checked_exception() {
  if (state_ == State::pending) throw InvalidStateError("Exception is not set.");
  if (state_ == State::cancelled) std::rethrow_exception(exc_);
  flags_ &= ~f_log_traceback;
  return exc_;
}

void FutureCore::check_pending() const {
  if (state_ != State::pending) throw InvalidStateError("invalid state");
}

void FutureCore::finish_exception(std::exception_ptr e) noexcept {
  exc_ = std::move(e);
  finish(State::finished);
}

void FutureCore::finish(State s) noexcept {
  state_ = s;
  if (s == State::finished && exc_) flags_ |= f_log_traceback;
  schedule_callbacks();
}

void FutureCore::schedule_callbacks() noexcept {
  if (callbacks_.empty()) return;
  incref();  // held by the queued batch
  loop_->push(this);
}

void FutureCore::run_callbacks() noexcept {
  // A callback may free itself (a task whose frame ends), so each one is
  // left alone once run.
  callbacks_.consume([this](ReadyNode* cb) { run_callback(cb, *this); });
}

void FutureCore::run_ready(bool discard) noexcept {
  // Dropped by a closed loop: the callbacks will never run, and one that
  // holds this future would keep it alive for good.
  if (discard)
    callbacks_.clear();
  else
    run_callbacks();
  decref();
}

void FutureCore::add_done(ReadyNode* cb) {
  if (!done()) return callbacks_.push(cb);
  loop_->push(new LateCallback(cb, *this));
}

void FutureCore::remove_callback(ReadyNode* cb) noexcept {
  callbacks_.remove_if([cb](ReadyNode* c) { return c == cb; });
}

std::size_t FutureCore::remove_user_callbacks(std::uintptr_t id) noexcept {
  // Once done, CPython has already moved the callbacks to the ready queue.
  if (done()) return 0;
  return callbacks_.remove_if([id](ReadyNode* c) { return c->callback_id() == id; });
}

ExceptionKind classify(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError&) {
    return ExceptionKind::cancelled;
  } catch (const KeyboardInterrupt&) {
    return ExceptionKind::fatal;
  } catch (const SystemExit&) {
    return ExceptionKind::fatal;
  } catch (...) {
    return ExceptionKind::ordinary;
  }
}

bool is_cancelled_error(const std::exception_ptr& e) noexcept {
  return e && classify(e) == ExceptionKind::cancelled;
}

std::string cancel_message(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError& c) {
    return c.what();
  } catch (...) {
    return {};
  }
}

std::exception_ptr make_cancelled_error(std::string msg) {
  return std::make_exception_ptr(CancelledError(std::move(msg)));
}

}  // namespace asyncio::detail
