// asyncio-cpp: SPDX-License-Identifier: MIT
// The Timeout state machine and the per-loop queue of deadlines.
// ≙ Lib/asyncio/timeouts.py
#include <asyncio/timeouts.hpp>

#include "detail/report.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace asyncio {

namespace {

const char* state_name(int s) {
  static const char* const names[] = {"created", "active", "expiring", "expired", "finished"};
  return names[s];
}

void check_not_nan(double when) {
  if (std::isnan(when)) throw std::invalid_argument("Invalid time: NaN (not a number)");
}

// Python's repr of round(x, 3): the shortest text that reads back, with
// ".0" for whole numbers.
std::string float_repr(double x) {
  x = std::round(x * 1000) / 1000;
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  std::string s(buf, end);
  if (std::isfinite(x) && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

void Timeout::enter(std::optional<double> arg, bool relative) {
  if (state_ != State::created) throw RuntimeError("Timeout has already been entered");
  detail::LoopCore* loop = detail::tls.running;
  detail::TaskCore* task = loop ? loop->current_task : nullptr;
  if (!task) throw RuntimeError("Timeout should be used inside a task");
  if (relative && arg) check_not_nan(*arg);
  if (!relative && when_) check_not_nan(*when_);
  state_ = State::active;
  task_ = task;
  cancelling_ = task->cancelling();
  if (relative) {
    if (!arg) {
      when_.reset();
      return;
    }
    // One clock read for both the deadline and the "already past" test.
    const double now = loop->owner->time();
    when_ = now + *arg;
    schedule(*when_, now);
  } else if (when_) {
    schedule(*when_, loop->owner->time());
  }
}

// A Timeout's deadline is a node of the loop's one timer heap (no
// allocation: the node lives in the Timeout). When the loop finds it due it
// joins the pass's expiries (LoopCore::expiries), which run as one entry
// of the ready queue, where CPython's call_at handle would run: the
// expiry's cancel() then wakes the task on the next pass, as there.
void Timeout::schedule(double when, double now) {
  detail::LoopCore* loop = detail::tls.running;
  if (when <= now) {
    // CPython uses call_soon here, not call_at: the expiry then runs before
    // a task that yields right after entering (timeout(0) + sleep(0)).
    soon_ = loop->owner->call_soon([this] { on_timeout(); });
  } else if (std::isfinite(when)) {
    // An infinite deadline never comes: CPython's loop would wait for ever
    // for it; a virtual-time loop would jump to it.
    loop->timers.push(deadline_, when);
    queued_on_ = loop;
    loop->incref();  // the task's frame may outlive its loop
  }
}

void Timeout::unschedule() noexcept {
  if (detail::LoopCore* loop = std::exchange(queued_on_, nullptr)) {
    loop->timers.remove(deadline_);
    deadline_.unlink();
    loop->decref();
  }
  if (soon_) {
    soon_->cancel();
    soon_.reset();
  }
}

void Timeout::deadline_due(detail::TimerNode& node, detail::LoopCore& loop) noexcept {
  loop.expiries.add(loop, static_cast<Deadline&>(node));
}

void Timeout::deadline_fire(detail::ExpiryLink& link) noexcept {
  Timeout& t = *static_cast<Deadline&>(link).self;
  detail::LoopCore* loop = std::exchange(t.queued_on_, nullptr);
  try {
    t.on_timeout();
  } catch (...) {
    detail::report_callback_error(loop, std::current_exception());
  }
  loop->decref();  // the running loop holds its own reference
}

void Timeout::on_timeout() {
  soon_.reset();
  state_ = State::expiring;
  task_->cancel({});
}

void Timeout::reschedule(std::optional<double> when) {
  if (state_ != State::active) {
    if (state_ == State::created) throw RuntimeError("Timeout has not been entered");
    throw RuntimeError(std::string("Cannot change state of ") + state_name(static_cast<int>(state_)) + " Timeout");
  }
  if (when) check_not_nan(*when);
  EventLoop& loop = get_running_loop();
  when_ = when;
  unschedule();
  if (when) schedule(*when, loop.time());
}

void Timeout::exit(bool failing) {
  unschedule();
  if (state_ == State::expiring) {
    state_ = State::expired;
    // Convert only if our cancel() is the only request left above the
    // level found on entry (spec §3.3, C7).
    if (task_->uncancel() <= cancelling_ && failing) {
      try {
        throw;
      } catch (const CancelledError&) {
        std::throw_with_nested(TimeoutError());
      } catch (...) {
        // Another exception goes through as it is. (3.13 also splices a
        // TimeoutError into its __context__ chain; C++ exceptions have none.)
      }
    }
  } else if (state_ == State::active) {
    state_ = State::finished;
  }
}

std::string Timeout::repr() const {
  std::string s = std::string("<Timeout [") + state_name(static_cast<int>(state_)) + "]";
  if (state_ == State::active) s += " when=" + (when_ ? float_repr(*when_) : std::string("None"));
  return s + ">";
}

}  // namespace asyncio
