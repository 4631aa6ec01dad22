// asyncio-cpp: SPDX-License-Identifier: MIT
// The untyped state machine shared by Future<T> and Task<T>. ≙ futures.py
#ifndef ASYNCIO_DETAIL_FUTURE_CORE_HPP
#define ASYNCIO_DETAIL_FUTURE_CORE_HPP

#include <asyncio/detail/loop_core.hpp>
#include <asyncio/exceptions.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

/// Identifies what add_done_callback registered, for remove_done_callback.
/// Registrations of the same plain function share an id (so removing it
/// removes them all, as CPython removes every registration of a function);
/// any other callable gets an id of its own.
struct CallbackId {
  std::uintptr_t value = 0;
  friend bool operator==(CallbackId, CallbackId) = default;
};

namespace detail {

class FutureCore;

/// A done-callback: `fn(ctx, future)`.
struct Callback {
  void (*fn)(void* ctx, FutureCore& fut);
  void* ctx;
};

/// A std::function registered by add_done_callback, type-erased.
class UserCallback {
 public:
  explicit UserCallback(std::uintptr_t id) : id(id) {}
  virtual ~UserCallback() = default;
  virtual void invoke(FutureCore& fut) = 0;
  const std::uintptr_t id;
};

/// Runs and then frees a UserCallback (the Callback::fn of user callbacks).
void run_user_callback(void* ctx, FutureCore& fut);
/// A fresh id for a callable without identity.
std::uintptr_t next_callback_id() noexcept;

/// FIFO of callbacks in 16 bytes: one inline, more in a spilled vector.
class CallbackList {
 public:
  CallbackList() noexcept { one_.fn = nullptr; }
  CallbackList(CallbackList&& o) noexcept : one_(o.one_) { o.one_.fn = nullptr; }
  CallbackList& operator=(CallbackList&&) = delete;
  ~CallbackList() { clear(); }

  bool empty() const noexcept { return one_.fn == nullptr; }
  void push(Callback cb);
  /// Removes the registrations `pred` selects, freeing user callbacks;
  /// returns how many went.
  template <class Pred>
  std::size_t remove_if(Pred pred) noexcept;
  /// Calls `f(cb)` for each callback in order.
  template <class F>
  void for_each(F f) const;
  /// Drops every callback, freeing user callbacks.
  void clear() noexcept;

 private:
  static void spill(void*, FutureCore&) {}
  std::vector<Callback>* vec() const noexcept { return static_cast<std::vector<Callback>*>(one_.ctx); }
  bool spilled() const noexcept { return one_.fn == &spill; }
  static void release(Callback cb) noexcept {
    if (cb.fn == &run_user_callback) delete static_cast<UserCallback*>(cb.ctx);
  }
  Callback one_;
};

template <class Pred>
std::size_t CallbackList::remove_if(Pred pred) noexcept {
  if (empty()) return 0;
  if (!spilled()) {
    if (!pred(one_)) return 0;
    release(one_);
    one_.fn = nullptr;
    return 1;
  }
  auto& v = *vec();
  std::size_t kept = 0, removed = 0;
  for (auto& cb : v) {
    if (pred(cb)) {
      release(cb);
      ++removed;
    } else {
      v[kept++] = cb;
    }
  }
  v.resize(kept);
  return removed;
}

template <class F>
void CallbackList::for_each(F f) const {
  if (empty()) return;
  if (!spilled()) return f(one_);
  for (const auto& cb : *vec()) f(cb);
}

/// Python's Future state machine without the value (which a typed subclass
/// holds). Also the ready-queue entry that runs the done-callbacks.
///
/// Invariants: `refs_` counts Future/Task handles, the loop's reference to a
/// pending task, and one per queued callback batch. `exc_` holds the
/// exception of a failed future, the CancelledError of a cancelled one, and,
/// for a pending task, the CancelledError still to be delivered.
class FutureCore : public ReadyNode {
 public:
  enum class State : std::uint8_t { pending, finished, cancelled };

  bool done() const noexcept { return state_ != State::pending; }
  bool cancelled() const noexcept { return state_ == State::cancelled; }
  LoopCore* loop() const noexcept { return loop_; }
  bool is_task() const noexcept { return flags_ & f_task; }

  /// Future.cancel(msg): pending → CANCELLED (callbacks scheduled), true;
  /// done → false. Always stops a "never retrieved" report.
  virtual bool cancel(std::string msg);

  void incref() noexcept { ++refs_; }
  void decref() noexcept {
    if (--refs_ == 0) destroy();
  }

  /// result() minus the value: throws InvalidStateError("Result is not
  /// set.") while pending, the CancelledError if cancelled, the exception if
  /// failed (marking it retrieved).
  void check_result();
  /// exception(): InvalidStateError("Exception is not set.") while pending,
  /// throws CancelledError if cancelled, else the exception or null.
  std::exception_ptr checked_exception();
  /// Throws InvalidStateError("invalid state") unless pending.
  void check_pending() const;

  /// Completes with the value a subclass has just stored.
  void finish_result() noexcept { finish(State::finished); }
  /// Completes with `e`, which must not be a CancelledError.
  void finish_exception(std::exception_ptr e) noexcept;

  /// Registers `cb` to run through the ready queue when done; on a done
  /// future it is scheduled at once (spec S5).
  void add_done(Callback cb);
  /// Registers `cb` on a pending future. Internal: the caller knows.
  void add_callback(Callback cb) { callbacks_.push(cb); }
  /// Removes exactly that registration, whatever the state.
  void remove_callback(Callback cb) noexcept;
  /// remove_done_callback(id): the number of registrations removed.
  std::size_t remove_user_callbacks(std::uintptr_t id) noexcept;

  /// Marks the exception as retrieved (no "never retrieved" report).
  void mark_retrieved() noexcept { flags_ &= ~f_log_traceback; }
  const std::exception_ptr& stored_exception() const noexcept { return exc_; }

  void run_ready(bool discard) noexcept override;

 protected:
  enum : std::uint8_t {
    f_task = 1,
    f_log_traceback = 2,
    f_has_value = 4,
    f_must_cancel = 8,
    f_started = 16,
    f_cancel_requested = 32,
  };

  /// A future of `loop` (which must be live), with one reference.
  explicit FutureCore(LoopCore* loop) noexcept : loop_(loop), refs_(1) { loop->incref(); }
  /// A coroutine frame's future: detached until promoted to a task, and
  /// only the fields a plain awaited coroutine uses are initialised.
  struct FrameTag {};
  explicit FutureCore(FrameTag) noexcept {}
  virtual ~FutureCore();
  /// Frees the object (delete, or destroy the coroutine frame).
  virtual void destroy() noexcept = 0;

  void attach(LoopCore* loop) noexcept {
    loop_ = loop;
    loop->incref();
    refs_ = 1;
  }
  void finish(State s) noexcept;
  void schedule_callbacks() noexcept;
  void run_callbacks() noexcept;
  /// Reports "never retrieved" if due; the destructor's first act.
  void report_unretrieved() noexcept;

  LoopCore* loop_ = nullptr;
  std::exception_ptr exc_;
  CallbackList callbacks_;
  std::uint32_t refs_;
  State state_ = State::pending;
  std::uint8_t flags_ = 0;
};

/// Holds a T whose lifetime the owner manages (constructed on completion).
template <class T>
struct Storage {
  Storage() noexcept {}
  ~Storage() {}
  union {
    T value;
  };
};
template <>
struct Storage<void> {};

/// Whether `e` holds a CancelledError.
bool is_cancelled_error(const std::exception_ptr& e) noexcept;
/// The message of the CancelledError `e` (empty for anything else).
std::string cancel_message(const std::exception_ptr& e);
std::exception_ptr make_cancelled_error(std::string msg);

}  // namespace detail
}  // namespace asyncio

#endif  // ASYNCIO_DETAIL_FUTURE_CORE_HPP
