// asyncio-cpp: SPDX-License-Identifier: MIT
// Future<T>: a result that will be available later. ≙ Lib/asyncio/futures.py
#ifndef ASYNCIO_FUTURES_HPP
#define ASYNCIO_FUTURES_HPP

#include <asyncio/detail/frame_allocator.hpp>
#include <asyncio/detail/future_core.hpp>
#include <asyncio/detail/task_core.hpp>
#include <asyncio/events.hpp>

#include <coroutine>
#include <functional>
#include <optional>
#include <tuple>
#include <vector>
#include <string>
#include <type_traits>
#include <utility>

namespace asyncio {

namespace detail {

/// A heap future holding a T once finished.
template <class T>
class FutureState : public FutureCore {
 public:
  explicit FutureState(LoopCore* loop) noexcept : FutureCore(loop) {}

  template <class... A>
  void set_value(A&&... a) {
    check_pending();
    emplace(std::forward<A>(a)...);
    finish_result();
  }
  std::add_lvalue_reference_t<T> value() noexcept {
    if constexpr (!std::is_void_v<T>) return storage_.value;
  }

  static void* operator new(std::size_t n) { return allocate_frame(n); }
  static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

 protected:
  template <class... A>
  void emplace(A&&... a) {
    if constexpr (!std::is_void_v<T>) {
      ::new (static_cast<void*>(&storage_.value)) T(std::forward<A>(a)...);
      flags_ |= f_has_value;
    }
  }
  ~FutureState() override {
    if constexpr (!std::is_void_v<T>)
      if (flags_ & f_has_value) storage_.value.~T();
  }
  void destroy() noexcept override { delete this; }
  Storage<T> storage_;
};

/// Suspends the current task on `f` (registers the wake-up, cancels `f` at
/// once if the task has a cancellation pending). Returns false, with
/// `error` set, when the await is illegal (a task awaiting itself, a future
/// of another loop, no task running).
bool suspend_current_task(AwaitPoint& at, const char*& error) noexcept;
/// After a suspension on `f`: throws the current task's pending
/// CancelledError, unless `f` delivers a CancelledError of its own.
void deliver_pending_cancel(FutureCore& f);
[[noreturn]] void throw_await_error(const char* error, FutureCore& f);
/// RuntimeError("Future object is not initialized.").
[[noreturn]] void throw_uninitialized_future();

/// Awaits a FutureCore-derived state; the result is fetched by `Get`.
template <class Get>
class FutureAwaiter {
 public:
  explicit FutureAwaiter(FutureCore* f, Get get) noexcept : at_{f, nullptr}, get_(get) {}
  bool await_ready() const noexcept { return at_.future->done(); }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    at_.frame = h;
    suspended_ = suspend_current_task(at_, error_);
    return suspended_;
  }
  decltype(auto) await_resume() {
    if (error_) throw_await_error(error_, *at_.future);
    if (suspended_) deliver_pending_cancel(*at_.future);
    at_.future->check_result();
    return get_();
  }

 private:
  AwaitPoint at_;
  Get get_;
  const char* error_ = nullptr;
  bool suspended_ = false;
};

/// Whether a T can really be copied: std::is_copy_constructible says yes
/// for a vector of move-only elements, whose copy then fails to compile.
/// Looks into the types results are made of (vector, tuple, pair, optional).
template <class T>
struct Copyable : std::is_copy_constructible<T> {};
template <class T, class A>
struct Copyable<std::vector<T, A>> : Copyable<T> {};
template <class... T>
struct Copyable<std::tuple<T...>> : std::conjunction<Copyable<T>...> {};
template <class A, class B>
struct Copyable<std::pair<A, B>> : std::conjunction<Copyable<A>, Copyable<B>> {};
template <class T>
struct Copyable<std::optional<T>> : Copyable<T> {};
template <class T>
inline constexpr bool copyable = Copyable<T>::value;

/// A value of a done future that others may share: copied when T can be
/// copied, else moved out (as `co_await std::move(task)` does; shield()
/// and gather() accept a move-only result only from a task they made).
template <class S>
auto shared_value(S* s) {
  using T = std::remove_reference_t<decltype(s->value())>;
  if constexpr (std::is_void_v<T>)
    return;
  else if constexpr (copyable<T>)
    return T(s->value());
  else
    return T(std::move(s->value()));
}

/// The result of awaiting an rvalue handle: the caller gave its reference
/// up, so the value is moved out when no other reference is left (or when
/// it cannot be copied), else copied.
template <class S>
auto take_awaited(S* s) {
  using T = std::remove_reference_t<decltype(s->value())>;
  if constexpr (std::is_void_v<T>)
    return;
  else if constexpr (copyable<T>)
    return s->unique() ? T(std::move(s->value())) : T(s->value());
  else
    return T(std::move(s->value()));
}

/// A counted reference to a future or task, with the untyped part of the
/// Future API.
template <class Core>
class CoreRef {
 public:
  CoreRef() noexcept = default;
  CoreRef(const CoreRef& o) noexcept : p_(o.p_) {
    if (p_) p_->incref();
  }
  CoreRef(CoreRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  CoreRef& operator=(CoreRef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~CoreRef() {
    if (p_) p_->decref();
  }

  /// True when the future has a result, an exception, or was cancelled.
  bool done() const { return live()->done(); }
  /// True when the future was cancelled.
  bool cancelled() const { return live()->cancelled(); }
  /// Cancels the future: pending → cancelled, done-callbacks scheduled,
  /// true; already done → false. Stops any "never retrieved" report.
  bool cancel(std::string msg = {}) { return live()->cancel(std::move(msg)); }
  /// The exception (null if none). Throws InvalidStateError("Exception is
  /// not set.") while pending and CancelledError if cancelled.
  std::exception_ptr exception() const { return live()->checked_exception(); }
  /// Removes the registrations with this id; returns how many. Zero once
  /// the future is done (its callbacks are already scheduled).
  std::size_t remove_done_callback(CallbackId id) { return live()->remove_user_callbacks(id.value); }
  /// The loop the future belongs to.
  EventLoop& get_loop() const;
  /// Where the future (or task) was created, when debug mode was on then
  /// (≙ _source_traceback, one frame: the call of create_task() or
  /// create_future()); empty otherwise.
  std::optional<std::source_location> source_traceback() const {
    if (const std::source_location* where = live()->creation_site()) return *where;
    return std::nullopt;
  }

  /// False for a default-constructed (empty) reference.
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /// Identity of the underlying future (as ExceptionContext::source).
  const void* native() const noexcept { return p_; }
  friend bool operator==(const CoreRef& a, const CoreRef& b) noexcept { return a.p_ == b.p_; }

 protected:
  /// Adopts one reference.
  explicit CoreRef(Core* p) noexcept : p_(p) {}
  /// The state; a default-constructed handle refers to none and every
  /// member throws RuntimeError("Future object is not initialized."), as
  /// CPython's for a Future whose __init__ did not run.
  Core* live() const {
    if (!p_) [[unlikely]]
      throw_uninitialized_future();
    return p_;
  }
  template <class Handle, class Fn>
  CallbackId add_user_callback(Fn fn);
  Core* p_ = nullptr;
};

template <class Core>
EventLoop& CoreRef<Core>::get_loop() const {
  EventLoop* l = live()->loop()->owner;
  if (!l) throw RuntimeError("Event loop is closed");
  return *l;
}

template <class Core>
template <class Handle, class Fn>
CallbackId CoreRef<Core>::add_user_callback(Fn fn) {
  struct Cb final : UserCallback {
    Cb(std::uintptr_t id, Fn f) : UserCallback(id), f(std::move(f)) {}
    void call(FutureCore& fut) override {
      fut.incref();
      f(Handle(static_cast<decltype(std::declval<Handle>().state())>(&fut)));
    }
    Fn f;
  };
  std::uintptr_t id;
  using Plain = void (*)(Handle);
  if (auto* plain = fn.template target<Plain>())
    id = reinterpret_cast<std::uintptr_t>(*plain);
  else
    id = next_callback_id();
  live()->add_done(new Cb(id, std::move(fn)));
  return CallbackId{id};
}

}  // namespace detail

/// A low-level awaitable result (≙ asyncio.Future): a copyable counted
/// reference to shared state. Complete it with set_result/set_exception;
/// awaiting it suspends the current task until it is done, then gives a
/// reference to the stored result (the same object every time).
template <class T>
class Future : public detail::CoreRef<detail::FutureState<T>> {
  using Base = detail::CoreRef<detail::FutureState<T>>;

 public:
  using value_type = T;
  Future() noexcept = default;

  /// The result. Throws InvalidStateError("Result is not set.") while
  /// pending, CancelledError if cancelled, or the stored exception.
  std::add_lvalue_reference_t<T> result() const {
    this->live()->check_result();
    return this->p_->value();
  }
  /// Completes the future with a value. InvalidStateError("invalid state")
  /// if already done. Done-callbacks run on a later loop pass.
  template <class... A>
  void set_result(A&&... a) const {
    this->live()->set_value(std::forward<A>(a)...);
  }
  /// Completes the future with an exception. InvalidStateError if done.
  void set_exception(std::exception_ptr e) const {
    this->live()->check_pending();
    this->p_->finish_exception(std::move(e));
  }
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  void set_exception(E&& e) const {
    set_exception(std::make_exception_ptr(std::forward<E>(e)));
  }
  /// Registers `fn(future)` to run through the loop when done (at once if
  /// already done: still on a later pass).
  CallbackId add_done_callback(std::function<void(Future<T>)> fn) {
    return this->template add_user_callback<Future<T>>(std::move(fn));
  }

  /// Suspends until done; gives result() (a reference to the stored value).
  auto operator co_await() const& {
    auto* s = this->live();
    return detail::FutureAwaiter(s, [s]() -> decltype(auto) { return s->value(); });
  }
  /// Awaiting a temporary (`co_await gather(...)`) gives the value itself,
  /// moved out when nobody else holds the future.
  auto operator co_await() && {
    auto* s = this->live();
    return detail::FutureAwaiter(s, [s] { return detail::take_awaited(s); });
  }

  detail::FutureState<T>* state() const noexcept { return this->p_; }
  /// Adopts one reference to `s`.
  explicit Future(detail::FutureState<T>* s) noexcept : Base(s) {}
};

template <class T>
Future<T> EventLoop::create_future(std::source_location where) {
  check_closed();
  auto* state = new detail::FutureState<T>(core_);
  Future<T> fut(state);
  if (core_->debug) [[unlikely]]
    state->trace(where);
  return fut;
}

}  // namespace asyncio

#endif  // ASYNCIO_FUTURES_HPP
