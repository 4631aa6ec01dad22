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

namespace detail {

// CPython gives every Timeout its own loop.call_at() handle. Here a loop's
// entered timeouts share one: their deadlines sit in an indexed min-heap
// (insert and removal in O(log n), no allocation once the heap has grown),
// and one loop timer is armed at the earliest deadline. A timeout that
// never fires, the common case, so costs a heap insert and a removal, not
// a TimerHandle allocation, and leaves nothing behind in the loop's timer
// heap (the loop drops cancelled timers only between passes, so a tight
// loop of timeouts that never suspends would otherwise pile them up).
//
// The armed timer is not moved later when its deadline goes away (that
// would cost an allocation per timeout): it may fire with nothing due, and
// then re-arms at the earliest remaining deadline. The expiries due at one
// pass all run in that timer's callback, in deadline order; CPython runs
// them as separate callbacks of the same pass, which differs only in how
// they interleave with other timers due in that pass (spec S2: ties are
// unordered anyway).
class TimeoutQueue {
 public:
  /// The queue of the loop running in this thread (one is cached per
  /// thread; a queue lives on while timeouts of its loop are queued).
  static TimeoutQueue& for_running_loop();
  static TimeoutQueue& make_for_running_loop();

  void push(Timeout& t, double when);
  void remove(Timeout& t) noexcept;

  void incref() noexcept { ++refs_; }
  void decref() noexcept {
    if (--refs_ == 0) delete this;
  }
  LoopCore* loop() const noexcept { return loop_; }

 private:
  explicit TimeoutQueue(LoopCore* loop) noexcept : loop_(loop) { loop_->incref(); }
  ~TimeoutQueue() {
    armed_.cancel();  // its callback points here
    loop_->decref();
  }

  static bool before(const Timeout* a, const Timeout* b) noexcept {
    return *a->when_ != *b->when_ ? *a->when_ < *b->when_ : a->seq_ < b->seq_;
  }
  void place(Timeout* t, std::size_t i) noexcept {
    heap_[i] = t;
    t->slot_ = i;
  }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void arm(double when);
  void fire();

  LoopCore* loop_;  // counted: the address identifies the loop
  std::vector<Timeout*> heap_;
  TimerHandle armed_;
  double armed_when_ = std::numeric_limits<double>::infinity();
  std::uint64_t seq_ = 0;
  std::uint32_t refs_ = 0;
};

namespace {

// The cached queue: read on every timeout, so a plain pointer (no
// thread_local guard); the object below releases it at thread exit.
constinit thread_local TimeoutQueue* cached_queue = nullptr;

struct QueueRelease {
  ~QueueRelease() {
    if (cached_queue) std::exchange(cached_queue, nullptr)->decref();
  }
};

// A deadline within the clock's resolution of now is due (as the loop
// decides for its own timers).
constexpr double clock_resolution = 1e-9;

}  // namespace

// The hot path of every timeout, hence inline in this file.
[[gnu::always_inline]] inline TimeoutQueue& TimeoutQueue::for_running_loop() {
  TimeoutQueue* q = cached_queue;
  if (q && q->loop_ == tls.running) [[likely]]
    return *q;
  return make_for_running_loop();
}

TimeoutQueue& TimeoutQueue::make_for_running_loop() {
  static thread_local QueueRelease release;  // registered on first use
  (void)release;
  if (cached_queue) cached_queue->decref();
  auto* q = new TimeoutQueue(tls.running);
  q->refs_ = 1;
  cached_queue = q;
  return *q;
}

[[gnu::always_inline]] inline void TimeoutQueue::push(Timeout& t, double when) {
  t.seq_ = seq_++;
  t.queue_ = this;
  incref();
  heap_.push_back(&t);
  t.slot_ = heap_.size() - 1;
  if (t.slot_) sift_up(t.slot_);
  if (when < armed_when_ && heap_.front() == &t) arm(when);
}

[[gnu::always_inline]] inline void TimeoutQueue::remove(Timeout& t) noexcept {
  const std::size_t i = t.slot_;
  Timeout* last = heap_.back();
  heap_.pop_back();
  if (last != &t) [[unlikely]] {
    place(last, i);
    sift_down(i);
    sift_up(last->slot_);
  }
  t.queue_ = nullptr;
  decref();  // may free this queue: nothing after
}

void TimeoutQueue::sift_up(std::size_t i) noexcept {
  Timeout* t = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!before(t, heap_[parent])) break;
    place(heap_[parent], i);
    i = parent;
  }
  place(t, i);
}

void TimeoutQueue::sift_down(std::size_t i) noexcept {
  const std::size_t n = heap_.size();
  Timeout* t = heap_[i];
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], t)) break;
    place(heap_[child], i);
    i = child;
  }
  place(t, i);
}

void TimeoutQueue::arm(double when) {
  // An infinite deadline never comes: CPython's loop would wait forever
  // for it, ours would compute a wait it cannot represent.
  if (!std::isfinite(when)) return;
  armed_.cancel();
  armed_ = loop_->owner->call_at(when, [this] { fire(); });
  armed_when_ = when;
}

void TimeoutQueue::fire() {
  // The timer that ran is spent; what it did may drop the last reference
  // to this queue (a timeout leaving it), hence the guard.
  armed_ = TimerHandle();
  armed_when_ = std::numeric_limits<double>::infinity();
  incref();
  struct Release {
    TimeoutQueue* q;
    ~Release() { q->decref(); }
  } release{this};
  const double now = loop_->owner->time() + clock_resolution;
  while (!heap_.empty() && *heap_.front()->when_ <= now) {
    Timeout* t = heap_.front();
    remove(*t);
    t->on_timeout();
  }
  if (!heap_.empty() && *heap_.front()->when_ < armed_when_) arm(*heap_.front()->when_);
}

}  // namespace detail

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

void Timeout::schedule(double when, double now) {
  if (when <= now) {
    // CPython uses call_soon here, not call_at: the expiry then runs before
    // a task that yields right after entering (timeout(0) + sleep(0)).
    soon_ = detail::tls.running->owner->call_soon([this] { on_timeout(); });
  } else {
    detail::TimeoutQueue::for_running_loop().push(*this, when);
  }
}

void Timeout::unschedule() noexcept {
  if (queue_) queue_->remove(*this);
  if (soon_) {
    soon_->cancel();
    soon_.reset();
  }
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
