// asyncio-cpp: SPDX-License-Identifier: MIT
// The untyped state machine shared by Future<T> and Task<T>. ≙ futures.py
#ifndef ASYNCIO_DETAIL_FUTURE_CORE_HPP
#define ASYNCIO_DETAIL_FUTURE_CORE_HPP

#include <asyncio/detail/context_core.hpp>
#include <asyncio/detail/loop_core.hpp>
#include <asyncio/exceptions.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <source_location>
#include <utility>
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

/// A std::function registered by add_done_callback, type-erased.
class UserCallback : public ReadyNode {
 public:
  explicit UserCallback(std::uintptr_t id) noexcept : id_(id) {}
  virtual ~UserCallback() { release_slot(context_); }
  void on_done(FutureCore& f) final {
    struct Free {
      UserCallback* self;
      ~Free() { delete self; }
    } free{this};
    ContextSwitch in_context(context_);  // ≙ call_soon(callback, self, context=ctx)
    call(f);
  }
  void release_callback() noexcept override { delete this; }
  std::uintptr_t callback_id() const noexcept override { return id_; }

 protected:
  virtual void call(FutureCore& f) = 0;

 private:
  std::uintptr_t id_;
  /// A copy of the context add_done_callback() was called in.
  ContextSlot context_ = capture_context();
};

/// A fresh id for a callable without identity.
std::uintptr_t next_callback_id() noexcept;

/// FIFO of done-callbacks in one word: empty, one callback, or (low bit
/// set) a spilled vector.
class CallbackList {
 public:
  CallbackList() noexcept = default;
  CallbackList(CallbackList&& o) noexcept : v_(std::exchange(o.v_, 0)) {}
  CallbackList& operator=(CallbackList&&) = delete;
  ~CallbackList() {
    if (v_) clear();
  }

  bool empty() const noexcept { return v_ == 0; }
  void push(ReadyNode* cb) {
    if (!v_)
      v_ = reinterpret_cast<std::uintptr_t>(cb);
    else
      push_more(cb);
  }
  /// Removes the registrations `pred` selects (release_callback() is
  /// called on each); returns how many went.
  template <class Pred>
  std::size_t remove_if(Pred pred) noexcept;
  /// Calls `f(cb)` for each callback in order.
  template <class F>
  void for_each(F f) const;
  /// Calls `f(cb)` for each callback in order, ending every registration
  /// (no release_callback(): `f` consumes them); leaves the list empty.
  template <class F>
  void consume(F f);
  /// Ends every registration (release_callback()).
  void clear() noexcept;

 private:
  using Vec = std::vector<ReadyNode*>;
  void push_more(ReadyNode* cb);
  bool spilled() const noexcept { return v_ & 1; }
  Vec* vec() const noexcept { return reinterpret_cast<Vec*>(v_ & ~std::uintptr_t{1}); }
  ReadyNode* one() const noexcept { return reinterpret_cast<ReadyNode*>(v_); }
  std::uintptr_t v_ = 0;
};

template <class Pred>
std::size_t CallbackList::remove_if(Pred pred) noexcept {
  if (empty()) return 0;
  if (!spilled()) {
    ReadyNode* cb = one();
    if (!pred(cb)) return 0;
    v_ = 0;
    cb->release_callback();
    return 1;
  }
  auto& v = *vec();
  std::size_t kept = 0, removed = 0;
  for (ReadyNode* cb : v) {
    if (pred(cb)) {
      cb->release_callback();
      ++removed;
    } else {
      v[kept++] = cb;
    }
  }
  v.resize(kept);
  return removed;
}

template <class F>
void CallbackList::consume(F f) {
  if (empty()) return;
  if (!spilled()) {
    ReadyNode* cb = one();
    v_ = 0;
    return f(cb);
  }
  Vec* v = vec();
  v_ = 0;
  for (ReadyNode* cb : *v) f(cb);
  delete v;
}

template <class F>
void CallbackList::for_each(F f) const {
  if (empty()) return;
  if (!spilled()) return f(one());
  for (ReadyNode* cb : *vec()) f(cb);
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
  /// True when one reference is left (the awaiting handle's, say).
  bool unique() const noexcept { return refs_ == 1; }
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

  /// Registers `cb->on_done(*this)` to run through the ready queue when
  /// done; on a done future it is scheduled at once (spec S5).
  void add_done(ReadyNode* cb);
  /// Registers `cb` on a pending future. Internal: the caller knows.
  void add_callback(ReadyNode* cb) { callbacks_.push(cb); }
  /// Removes exactly that registration, whatever the state.
  void remove_callback(ReadyNode* cb) noexcept;
  /// remove_done_callback(id): the number of registrations removed.
  std::size_t remove_user_callbacks(std::uintptr_t id) noexcept;

  /// Marks the exception as retrieved (no "never retrieved" report).
  void mark_retrieved() noexcept { flags_ &= ~f_log_traceback; }
  const std::exception_ptr& stored_exception() const noexcept { return exc_; }

  /// Debug mode: records `where` as the place the future was created
  /// (≙ _source_traceback), in the loop's side table, not in the object.
  void trace(std::source_location where);
  /// The recorded creation site, or null (not made in debug mode).
  const std::source_location* creation_site() const noexcept;
  /// Calls `f(cb)` for each registered done-callback (capture_call_graph(),
  /// debug mode's slow-callback report).
  template <class F>
  void for_each_callback(F f) const {
    callbacks_.for_each(f);
  }

  void run_ready(bool discard) noexcept override;

 protected:
  enum : std::uint8_t {
    f_inline = 64,  ///< an awaited frame run by a nested call from its awaiter
    f_task = 1,
    f_log_traceback = 2,
    f_has_value = 4,
    f_must_cancel = 8,
    f_started = 16,
    f_cancel_requested = 32,
    f_traced = 128,  ///< debug mode recorded its creation site (trace())
  };

  /// A future of `loop` (which must be live), with one reference.
  explicit FutureCore(LoopCore* loop) noexcept : loop_(loop), refs_(1) { loop->incref(); }
  /// A coroutine frame's future: detached until promoted to a task, and
  /// only the fields a plain awaited coroutine uses are initialised.
  struct FrameTag {};
  explicit FutureCore(FrameTag) noexcept {}
  virtual ~FutureCore() {
    if (flags_ & (f_log_traceback | f_traced)) report_unretrieved();
    if (loop_) loop_->decref();
  }
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
  /// Reports "never retrieved" if due, and drops what debug mode recorded;
  /// the destructor's first act.
  void report_unretrieved() noexcept;

  LoopCore* loop_ = nullptr;
  std::exception_ptr exc_;
  CallbackList callbacks_;
  std::uint32_t refs_;
  State state_ = State::pending;
  std::uint8_t flags_ = 0;
  /// A coroutine frame: how many inline resumes (CoroutineAwaiter) are
  /// nested on the native stack below it when it runs; at most
  /// max_inline_depth. Set by whoever starts or resumes the frame.
  std::uint8_t depth_;
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
