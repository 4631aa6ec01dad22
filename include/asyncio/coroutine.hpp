// asyncio-cpp: SPDX-License-Identifier: MIT
// Coroutine<T>: the return type of every coroutine. ≙ Python's coroutine
// objects (`async def`), as used by Lib/asyncio/coroutines.py
#ifndef ASYNCIO_COROUTINE_HPP
#define ASYNCIO_COROUTINE_HPP

#include <asyncio/detail/coroutine_traits.hpp>
#include <asyncio/detail/frame_allocator.hpp>
#include <asyncio/detail/fwd.hpp>
#include <asyncio/detail/task_core.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace asyncio {

namespace detail {

template <class T>
class Promise;

/// Where an inline-awaited coroutine leaves its outcome: in its awaiter
/// (in the awaiting frame), so that its own frame can free itself at once.
template <class T>
struct InlineResult {
  InlineResult() noexcept {}
  ~InlineResult() {
    if constexpr (!std::is_void_v<T>)
      if (has_value) storage.value.~T();
  }
  std::exception_ptr exc;
  Storage<T> storage;
  bool has_value = false;
  bool done = false;
};

/// Where the value lives; split out because a promise may declare
/// return_value or return_void, not both.
template <class T>
class PromiseResult : public TaskCore {
 public:
  template <class U = T>
  void return_value(U&& v) {
    if (is_inline()) {
      auto* r = static_cast<InlineResult<T>*>(slot_);
      ::new (static_cast<void*>(&r->storage.value)) T(std::forward<U>(v));
      r->has_value = true;
      return;
    }
    if (must_cancel()) return;  // the task ends cancelled: CPython drops the value
    ::new (static_cast<void*>(&storage_.value)) T(std::forward<U>(v));
    flags_ |= f_has_value;
  }
  T& value() noexcept { return storage_.value; }
  T take() { return std::move(storage_.value); }

 protected:
  ~PromiseResult() {
    if (flags_ & f_has_value) storage_.value.~T();
  }
  Storage<T> storage_;
};

template <>
class PromiseResult<void> : public TaskCore {
 public:
  void return_void() noexcept {}
  void value() noexcept {}
  void take() noexcept {}
};

/// Ends every frame. An inline-awaited frame marks its result ready and
/// frees itself (no suspension: control returns to the awaiter's call); a
/// task's top frame records the task's outcome; any other awaited frame
/// hands the awaiting frame to the step's trampoline.
template <class T>
struct FinalAwaiter {
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<Promise<T>> h) const noexcept {
    auto& p = h.promise();
    if (p.is_inline()) {
      static_cast<InlineResult<T>*>(p.slot_)->done = true;
      return false;  // run to the end: the frame frees itself
    }
    if (p.is_task())
      p.complete();  // may destroy the frame: nothing touches it after
    else
      tls.next = p.link_;
    return true;
  }
  void await_resume() const noexcept {}
};

/// GCC 12.2 lays out the frame of a coroutine wrongly when an `if` or
/// `while` condition is a co_await and the coroutine has no other local
/// variable (`if (co_await lock.acquire())`): it puts an 8-byte slot in
/// front of the resume pointer, so the coroutine handle (which starts at
/// the resume pointer) is 8 bytes into the allocation, while the ramp
/// starts the body with the allocation itself. Every resume then reads the
/// frame 8 bytes off: the body never runs, or runs from a random point, or
/// reads past the allocation (ASan: a 2-byte heap overflow). No awaiter or
/// promise shape avoids it (design-notes.md, "Compilers"). With such a
/// compiler every frame checks, as it is made, that its handle is its
/// allocation, and stops the program with a message saying what to write
/// instead, rather than hanging or corrupting memory later.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
inline constexpr bool check_frame_layout = true;
#else
inline constexpr bool check_frame_layout = false;
#endif
/// The last frame this thread allocated (check_frame_layout only).
inline thread_local void* last_frame = nullptr;

/// Prints what GCC 12 did and how to avoid it, and aborts.
[[noreturn]] void miscompiled_coroutine() noexcept;

template <class T>
class Promise final : public PromiseResult<T> {
 public:
  Coroutine<T> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter<T> final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept {
    if (this->is_inline())
      static_cast<InlineResult<T>*>(this->slot_)->exc = std::current_exception();
    else
      this->unhandled();
  }

  static void* operator new(std::size_t n) {
    void* p = allocate_frame(n);
    if constexpr (check_frame_layout) last_frame = p;
    return p;
  }
  static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

  std::coroutine_handle<Promise> handle() noexcept {
    return std::coroutine_handle<Promise>::from_promise(*this);
  }
  bool failed() const noexcept { return static_cast<bool>(this->exc_); }
  [[noreturn]] void rethrow() const { std::rethrow_exception(this->exc_); }

 private:
  void destroy() noexcept override { destroy_frame(handle()); }
};

[[noreturn]] void throw_reused_coroutine();

/// What a Coroutine holds once its frame ran to completion inline and freed
/// itself: not a frame, but not empty either (it was consumed, not moved).
extern char consumed_frame;
template <class P>
std::coroutine_handle<P> consumed_handle() noexcept {
  return std::coroutine_handle<P>::from_address(&consumed_frame);
}
/// What a Coroutine moved from another that a task is awaiting holds: the
/// awaiter refers to the source object, which keeps the frame; the copy
/// only knows that it is running (every use throws RuntimeError("coroutine
/// is being awaited already")).
extern char running_frame;
template <class P>
std::coroutine_handle<P> running_handle() noexcept {
  return std::coroutine_handle<P>::from_address(&running_frame);
}
[[noreturn]] void throw_coroutine_running();
/// RuntimeError for a consumed coroutine, std::invalid_argument for an
/// empty one (Python's "a coroutine was expected").
[[noreturn]] void throw_unusable_coroutine(bool consumed);

/// `co_await coro`: runs the coroutine inside the awaiting task and gives
/// its value. While the native nesting is shallow the child is run by a
/// plain call and, if it finishes without suspending, frees its frame at
/// once and the parent goes on without suspending; deeper, or once the
/// child suspends, frames are handed over through the step's trampoline,
/// so the native stack stays bounded whatever the compiler does.
template <class T>
class CoroutineAwaiter {
 public:
  using handle_type = std::coroutine_handle<Promise<T>>;
  explicit CoroutineAwaiter(handle_type& h) noexcept : h_(h) {}
  bool await_ready() const {
    if (!h_ || h_ == consumed_handle<Promise<T>>() || h_ == running_handle<Promise<T>>() || h_.done()) [[unlikely]]
      throw_unawaitable(h_);
    if (h_.promise().link_ || h_.promise().is_task()) [[unlikely]]
      throw_coroutine_running();
    return false;
  }
  [[noreturn]] static void throw_unawaitable(handle_type h) {
    if (h == running_handle<Promise<T>>()) throw_coroutine_running();
    throw_reused_coroutine();
  }
  // Always inlined: the cost of every `co_await coroutine` must not
  // depend on how large the caller's unit is (GCC's unit-growth limits
  // moved await_chain by 17 instructions when headers were added).
  template <class P>
  [[gnu::always_inline]] bool await_suspend(std::coroutine_handle<P> parent) noexcept {
    auto& p = h_.promise();
    // The parent's depth bounds the native nesting (a frame resumed by the
    // trampoline or a task step is shallower than its depth says: safe).
    unsigned depth = max_inline_depth;
    if constexpr (std::is_base_of_v<TaskCore, P>) depth = parent.promise().depth();
    if (depth >= max_inline_depth) {
      p.set_depth(0);
      p.link_ = parent;
      tls.next = h_;  // resumed by the step's trampoline
      return true;
    }
    p.set_depth(depth + 1);
    p.slot_ = &result_;
    p.set_inline(true);
    h_.resume();
    if (result_.done) {
      h_ = consumed_handle<Promise<T>>();  // the frame freed itself
      return false;
    }
    // The child suspended: it resumes the parent when it finishes.
    p.set_inline(false);
    p.link_ = parent;
    return true;
  }
  T await_resume() {
    if (result_.done) {
      if (result_.exc) std::rethrow_exception(result_.exc);
      if constexpr (!std::is_void_v<T>) return std::move(result_.storage.value);
    } else {
      auto& p = h_.promise();
      if (p.failed()) p.rethrow();
      return p.take();
    }
  }

 private:
  handle_type& h_;  // the Coroutine's own handle, cleared when the frame is gone
  InlineResult<T> result_;
};

}  // namespace detail

/// A lazily started coroutine (≙ a Python coroutine object). Nothing runs
/// until it is awaited, given to create_task/gather/run, or run with
/// run_until_complete. Awaiting it runs it inside the current task without
/// a loop pass and gives its value or rethrows its exception. It can be
/// consumed once: awaiting it again throws RuntimeError("cannot reuse
/// already awaited coroutine"), and while another awaiter runs it,
/// RuntimeError("coroutine is being awaited already"). Move-only; the
/// frame is freed with the object. [[nodiscard]] stands in for CPython's
/// "coroutine ... was never awaited" warning.
template <class T>
class [[nodiscard]] Coroutine {
 public:
  using promise_type = detail::Promise<T>;
  using value_type = T;
  using handle_type = std::coroutine_handle<promise_type>;

  Coroutine() noexcept = default;
  explicit Coroutine(handle_type h) noexcept : h_(h) {}
  /// Moving a coroutine that a task is awaiting leaves the frame with the
  /// source (its awaiter refers to it): the new object only says it is
  /// running, so that create_task(std::move(c)) raises instead of taking
  /// the frame from under its awaiter.
  Coroutine(Coroutine&& o) noexcept : h_(take(o.h_)) {}
  Coroutine& operator=(Coroutine&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = take(o.h_);
    }
    return *this;
  }
  ~Coroutine() {
    if (h_) reset();  // the moved-from temporaries of push_back(coro()) stay inline
  }

  /// Runs the coroutine in the awaiting task; gives its value.
  detail::CoroutineAwaiter<T> operator co_await() & noexcept { return detail::CoroutineAwaiter<T>(h_); }
  detail::CoroutineAwaiter<T> operator co_await() && noexcept { return detail::CoroutineAwaiter<T>(h_); }

  /// False once moved from.
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  /// True once awaited to completion (the frame is gone).
  bool consumed() const noexcept { return h_ == detail::consumed_handle<promise_type>(); }
  /// True while a task awaits it (its frame runs as part of that task).
  bool running() const noexcept {
    return h_ == detail::running_handle<promise_type>() || (h_ && !consumed() && awaited(h_));
  }
  /// Throws unless the coroutine can still be started: std::invalid_argument
  /// when moved from, RuntimeError("cannot reuse already awaited coroutine")
  /// when consumed, RuntimeError("coroutine is being awaited already")
  /// while awaited.
  void check_usable() const {
    if (!h_ || consumed()) detail::throw_unusable_coroutine(consumed());
    if (running()) detail::throw_coroutine_running();
  }
  /// Gives up ownership of the frame (for create_task); check_usable() first.
  handle_type release() {
    check_usable();
    return std::exchange(h_, nullptr);
  }
  handle_type handle() const noexcept { return h_; }

 private:
  // For a frame promoted to a task in place (gather), link_ means something
  // else (the frame the task's next step resumes): that one is not awaited.
  static bool awaited(handle_type h) noexcept { return !h.done() && !h.promise().is_task() && h.promise().link_; }
  static handle_type take(handle_type& from) noexcept {
    if (from && from != detail::consumed_handle<promise_type>() && from != detail::running_handle<promise_type>() &&
        awaited(from))
      return detail::running_handle<promise_type>();
    return std::exchange(from, nullptr);
  }
  void reset() noexcept {
    if (!h_ || consumed() || h_ == detail::running_handle<promise_type>()) return;
    // A frame promoted to a task in place (gather) is shared: drop our
    // reference; otherwise the frame is ours alone.
    if (h_.promise().is_task())
      h_.promise().decref();
    else
      destroy_frame(h_);
    h_ = nullptr;
  }
  handle_type h_ = nullptr;
};

namespace detail {

/// `f(args...)` as a coroutine that keeps `f` and the arguments in its own
/// frame until what `f` made has finished: a lambda coroutine refers to its
/// closure (its captures) for as long as it runs, so the closure must be
/// owned by something that lives that long.
template <class C, class F, class... A>
C call_owned(F f, A... args) {
  if constexpr (std::is_void_v<typename C::value_type>)
    co_await std::invoke(f, args...);
  else
    co_return co_await std::invoke(f, args...);
}

/// The coroutine create_task(f, args...) runs: `f` and `args` moved (or
/// copied) into call_owned()'s frame at once, before anything suspends.
template <class F, class... A>
  requires CoroutineFunction<F, A...>
function_coroutine_t<F, A...> owned_call(F&& f, A&&... args) {
  return call_owned<function_coroutine_t<F, A...>, std::decay_t<F>, std::decay_t<A>...>(std::forward<F>(f),
                                                                                         std::forward<A>(args)...);
}

/// The slow path of an operation that completes in await_ready() when it
/// can (a stream read, a drain, a datagram) and otherwise awaits a
/// coroutine inside the awaiting task: that coroutine and its awaiter,
/// kept in the operation (the awaiter refers to the coroutine).
template <class T>
class AwaitedCoroutine {
 public:
  /// await_suspend() of `coro`, made the operation's own.
  template <class P>
  bool suspend(Coroutine<T> coro, std::coroutine_handle<P> parent) {
    coro_ = std::move(coro);
    awaiting_.emplace(coro_);
    awaiting_->awaiter.await_ready();
    return awaiting_->awaiter.await_suspend(parent);
  }
  /// await_resume() of the coroutine; only after suspend().
  T resume() { return awaiting_->awaiter.await_resume(); }
  bool suspended() const noexcept { return awaiting_.has_value(); }

 private:
  struct Awaiting {
    explicit Awaiting(Coroutine<T>& c) noexcept : awaiter(c.operator co_await()) {}
    CoroutineAwaiter<T> awaiter;
  };
  Coroutine<T> coro_;
  std::optional<Awaiting> awaiting_;
};

}  // namespace detail

template <class T>
Coroutine<T> detail::Promise<T>::get_return_object() noexcept {
  if constexpr (detail::check_frame_layout)
    if (handle().address() != detail::last_frame) detail::miscompiled_coroutine();
  return Coroutine<T>(handle());
}

}  // namespace asyncio

// A function declared to return a Coroutine that never awaits is not a
// coroutine but a function returning nothing: a crash, which the compilers
// only warn about (-Wreturn-type). The natural case is a task_group() or
// timeout() body that only spawns tasks; its correct spelling is a plain
// body. Including the library makes that warning an error for the rest of
// the translation unit (define ASYNCIO_ALLOW_MISSING_RETURN to opt out).
#ifndef ASYNCIO_ALLOW_MISSING_RETURN
#pragma GCC diagnostic error "-Wreturn-type"
#endif

#endif  // ASYNCIO_COROUTINE_HPP
