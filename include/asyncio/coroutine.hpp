// asyncio-cpp: SPDX-License-Identifier: MIT
// Coroutine<T>: the return type of every coroutine. ≙ Python's coroutine
// objects (`async def`), as used by Lib/asyncio/coroutines.py
#ifndef ASYNCIO_COROUTINE_HPP
#define ASYNCIO_COROUTINE_HPP

#include <asyncio/detail/frame_allocator.hpp>
#include <asyncio/detail/fwd.hpp>
#include <asyncio/detail/task_core.hpp>

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

namespace asyncio {

namespace detail {

/// Ends every frame. A task's top frame records the task's outcome; an
/// awaited frame hands the awaiting frame to the step's trampoline.
struct FinalAwaiter {
  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) noexcept {
    TaskCore& p = h.promise();
    if (p.is_task())
      p.complete();  // may destroy the frame: nothing touches it after
    else
      tls.next = p.link_;
  }
  void await_resume() const noexcept {}
};

/// Where the value lives; split out because a promise may declare
/// return_value or return_void, not both.
template <class T>
class PromiseResult : public TaskCore {
 public:
  template <class U = T>
  void return_value(U&& v) {
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

template <class T>
class Promise final : public PromiseResult<T> {
 public:
  Coroutine<T> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { this->unhandled(); }

  static void* operator new(std::size_t n) { return allocate_frame(n); }
  static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

  std::coroutine_handle<Promise> handle() noexcept {
    return std::coroutine_handle<Promise>::from_promise(*this);
  }
  bool failed() const noexcept { return static_cast<bool>(this->exc_); }
  [[noreturn]] void rethrow() const { std::rethrow_exception(this->exc_); }

 private:
  void destroy() noexcept override { handle().destroy(); }
};

[[noreturn]] void throw_reused_coroutine();
[[noreturn]] void throw_coroutine_running();

/// `co_await coro`: runs the coroutine inside the awaiting task, through
/// the step's trampoline (no native stack growth), and gives its value.
template <class T>
class CoroutineAwaiter {
 public:
  explicit CoroutineAwaiter(std::coroutine_handle<Promise<T>> h) noexcept : h_(h) {}
  bool await_ready() const {
    if (!h_ || h_.done()) throw_reused_coroutine();
    if (h_.promise().link_ || h_.promise().is_task()) throw_coroutine_running();
    return false;
  }
  void await_suspend(std::coroutine_handle<> parent) const noexcept {
    h_.promise().link_ = parent;
    tls.next = h_;
  }
  T await_resume() const {
    auto& p = h_.promise();
    if (p.failed()) p.rethrow();
    return p.take();
  }

 private:
  std::coroutine_handle<Promise<T>> h_;
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
  Coroutine(Coroutine&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Coroutine& operator=(Coroutine&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~Coroutine() { reset(); }

  /// Runs the coroutine in the awaiting task; gives its value.
  detail::CoroutineAwaiter<T> operator co_await() const noexcept { return detail::CoroutineAwaiter<T>(h_); }

  /// True while the coroutine has a frame (not moved from).
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  /// Gives up ownership of the frame (for create_task).
  handle_type release() noexcept { return std::exchange(h_, nullptr); }
  handle_type handle() const noexcept { return h_; }

 private:
  void reset() noexcept {
    if (!h_) return;
    // A frame promoted to a task in place (gather) is shared: drop our
    // reference; otherwise the frame is ours alone.
    if (h_.promise().is_task())
      h_.promise().decref();
    else
      h_.destroy();
    h_ = nullptr;
  }
  handle_type h_ = nullptr;
};

template <class T>
Coroutine<T> detail::Promise<T>::get_return_object() noexcept {
  return Coroutine<T>(handle());
}

}  // namespace asyncio

#endif  // ASYNCIO_COROUTINE_HPP
