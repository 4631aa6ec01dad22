// asyncio-cpp: SPDX-License-Identifier: MIT
// AsyncGenerator<T>: a coroutine that can both co_await and co_yield.
// ≙ Python's asynchronous generators (`async def` with `yield`, PEP 525:
// Objects/genobject.c) and the loop's hooks for them (Lib/asyncio/base_events.py:
// _asyncgen_firstiter_hook, _asyncgen_finalizer_hook, shutdown_asyncgens).
#ifndef ASYNCIO_ASYNCGEN_HPP
#define ASYNCIO_ASYNCGEN_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/detail/composition.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/detail/frame_allocator.hpp>
#include <asyncio/detail/loop_core.hpp>
#include <asyncio/detail/task_core.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace asyncio {

/// Raised at the `co_yield` where a generator is suspended by aclose()
/// (≙ Python's GeneratorExit, a BaseException: `catch (const std::exception&)`
/// does not catch it). A generator that lets it propagate, or returns, is
/// closed; one that yields again makes aclose() raise RuntimeError("async
/// generator ignored GeneratorExit").
class GeneratorExit : public BaseException {
 public:
  using BaseException::BaseException;
};

template <class T, class S = void>
class AsyncGenerator;

namespace detail {

/// Which operation drives a generator's step (the messages differ).
enum class GenOp : std::uint8_t { next, send, raise, close };

/// The untyped part of a generator's promise. Its steps run inside the
/// consuming task, as an awaited coroutine does: the consumer resumes the
/// frame by a plain call while the native nesting is shallow (or through
/// the step's trampoline), and `co_yield` or the end hands control back
/// (design-notes.md, "Asynchronous generators").
class AsyncGenCore : public TaskCore {
 public:
  enum class GenState : std::uint8_t { created, suspended, running, done };

  GenState gen_state() const noexcept { return gen_state_; }
  /// A yielded value is held (by the typed promise).
  bool holds_value() const noexcept { return has_value_; }
  std::coroutine_handle<> self() const noexcept { return self_; }

  /// Validates `op` (already running, just started...); true when the body
  /// must run, false when the operation is over at once (the generator is
  /// exhausted, or has not started and is closed now).
  bool prepare(GenOp op, const std::exception_ptr& exc, bool sends_value);
  /// Runs one step for `consumer` (whose inline depth is `depth`): true if
  /// the consumer must suspend (the step awaits something).
  bool run(std::coroutine_handle<> consumer, unsigned depth) noexcept;
  /// After a step: true if the body yielded. Throws what the body raised,
  /// and for aclose() RuntimeError("async generator ignored GeneratorExit")
  /// if it yielded.
  bool finish(GenOp op);

  /// co_yield and the end of the body: hand control back to the consumer.
  void stop(bool at_end) noexcept;
  /// The exception athrow()/aclose() raises at the co_yield, if any.
  void raise_pending() {
    if (throw_in_) std::rethrow_exception(std::exchange(throw_in_, nullptr));
  }
  void fail() noexcept { error_ = std::current_exception(); }

  /// Drops the generator: a frame suspended at a co_yield whose loop is
  /// open is closed by a task of that loop whose first step runs now (so
  /// that destructors run at once; cleanup that awaits goes on in the
  /// loop); anything else is destroyed at once.
  static void release(AsyncGenCore& g) noexcept;

  /// The registry of live generators (≙ the loop's _asyncgens weak set).
  AsyncGenCore* reg_next = nullptr;
  AsyncGenCore* reg_prev = nullptr;

 protected:
  AsyncGenCore() noexcept = default;
  ~AsyncGenCore();
  virtual void discard_value() noexcept = 0;
  std::coroutine_handle<> self_;
  bool has_value_ = false;

 private:
  void first_iteration() noexcept;
  std::exception_ptr throw_in_;
  std::exception_ptr error_;
  GenState gen_state_ = GenState::created;
  bool stopped_ = false;  ///< the step reached a co_yield or the end
};

/// What `co_yield v` awaits: suspends the generator, hands the value to
/// the consumer; resumes with the value asend() sent (nullopt for next()),
/// or raises what athrow()/aclose() throws in.
template <class S>
struct GenYieldAwaiter {
  AsyncGenCore* g;
  std::optional<S>* sent;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) const noexcept {
    g->stop(false);
    return true;
  }
  std::optional<S> await_resume() const {
    g->raise_pending();
    return std::exchange(*sent, std::nullopt);
  }
};
template <>
struct GenYieldAwaiter<void> {
  AsyncGenCore* g;
  void* sent;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) const noexcept {
    g->stop(false);
    return true;
  }
  void await_resume() const { g->raise_pending(); }
};

struct GenFinalAwaiter {
  AsyncGenCore* g;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) const noexcept {
    g->stop(true);
    return true;
  }
  void await_resume() const noexcept {}
};

template <class S>
struct SentSlot {
  std::optional<S> value;
};
template <>
struct SentSlot<void> {
  void* value = nullptr;
};

template <class T, class S>
class AsyncGenPromise final : public AsyncGenCore {
 public:
  AsyncGenerator<T, S> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  GenFinalAwaiter final_suspend() noexcept { return {this}; }
  void unhandled_exception() noexcept { fail(); }
  void return_void() noexcept {}

  /// `co_yield v`: the value is moved (or copied) into the promise, where
  /// the consumer takes it.
  template <class U = T>
    requires std::is_constructible_v<T, U&&>
  GenYieldAwaiter<S> yield_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    ::new (static_cast<void*>(&value_.value)) T(std::forward<U>(v));
    has_value_ = true;
    return {this, &sent_.value};
  }

  T& value() noexcept { return value_.value; }
  T take() {
    T v = std::move(value_.value);
    discard_value();
    return v;
  }
  auto& sent() noexcept { return sent_.value; }

  static void* operator new(std::size_t n) {
    void* p = allocate_frame(n);
    if constexpr (check_frame_layout) last_frame = p;
    return p;
  }
  static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

  ~AsyncGenPromise() { discard_value(); }

 private:
  void discard_value() noexcept override {
    if (has_value_) value_.value.~T();
    has_value_ = false;
  }
  void destroy() noexcept override { destroy_frame(self_); }
  Storage<T> value_;
  SentSlot<S> sent_;
};

[[noreturn]] void throw_reused_gen_op(GenOp op);
[[noreturn]] void throw_empty_generator();

/// The awaiter of one generator operation. Holds no result (the value
/// stays in the generator's frame until await_resume takes it), so it is
/// safe as a temporary in a `co_await` under GCC 12.
class [[nodiscard]] GenOpAwaiter {
 public:
  GenOpAwaiter(AsyncGenCore* g, GenOp op, std::exception_ptr exc = nullptr) noexcept
      : g_(g), exc_(std::move(exc)), op_(op) {}
  GenOpAwaiter(const GenOpAwaiter&) = delete;
  GenOpAwaiter& operator=(const GenOpAwaiter&) = delete;

  bool await_ready() { return ready(false); }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> consumer) noexcept {
    unsigned depth = max_inline_depth;
    if constexpr (std::is_base_of_v<TaskCore, P>) depth = consumer.promise().depth();
    return g_->run(consumer, depth);
  }
  /// aclose(): nothing, or what the body raised.
  void await_resume() {
    if (ran_) g_->finish(op_);
  }

 protected:
  bool ready(bool sends_value) {
    if (used_) throw_reused_gen_op(op_);
    used_ = true;
    if (!g_) throw_empty_generator();
    ran_ = g_->prepare(op_, exc_, sends_value);
    return !ran_;
  }
  /// True if the step (if any) yielded a value.
  bool yielded() { return ran_ && g_->finish(op_); }

  AsyncGenCore* g_;
  std::exception_ptr exc_;
  GenOp op_;
  bool used_ = false;
  bool ran_ = false;
};

/// `co_await gen.next()` / `asend(v)` / `athrow(e)`: the next value, or
/// nullopt once the generator has returned (≙ StopAsyncIteration).
template <class T, class S>
class [[nodiscard]] GenValueAwaiter : public GenOpAwaiter {
 public:
  GenValueAwaiter(AsyncGenPromise<T, S>* g, GenOp op, std::exception_ptr exc = nullptr) noexcept
      : GenOpAwaiter(g, op, std::move(exc)) {}
  template <class V>
  GenValueAwaiter(AsyncGenPromise<T, S>* g, V&& v) : GenOpAwaiter(g, GenOp::send), v_(std::forward<V>(v)) {}

  bool await_ready() {
    if constexpr (std::is_void_v<S>)
      return ready(false);
    else
      return ready(v_.has_value());
  }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> consumer) noexcept {
    if constexpr (!std::is_void_v<S>) promise().sent() = std::move(v_);
    return GenOpAwaiter::await_suspend(consumer);
  }
  std::optional<T> await_resume() {
    if (!yielded()) return std::nullopt;
    return std::optional<T>(promise().take());
  }

 private:
  AsyncGenPromise<T, S>& promise() const noexcept { return *static_cast<AsyncGenPromise<T, S>*>(g_); }
  [[no_unique_address]] std::conditional_t<std::is_void_v<S>, SentSlot<void>, std::optional<S>> v_{};
};

/// `co_await it.advance()` / `co_await ++it`: steps the generator, leaving
/// the yielded value in its frame for `*it`.
class [[nodiscard]] GenStepAwaiter : public GenOpAwaiter {
 public:
  explicit GenStepAwaiter(AsyncGenCore* g) noexcept : GenOpAwaiter(g, GenOp::next) {}
  bool await_ready() { return ready(false); }
  void await_resume() { yielded(); }
};

}  // namespace detail

/// An asynchronous generator (≙ an `async def` that yields): a coroutine
/// returning `AsyncGenerator<T>` may `co_await` and `co_yield` values of
/// type T. Nothing runs until the first operation; each `co_await`ed
/// operation runs the body, inside the awaiting task (so cancellation,
/// timeouts and current_task() apply to its awaits), up to the next
/// `co_yield` or the end. `S` is what asend() sends (`co_yield` then gives
/// a std::optional<S>, nullopt for next()); with S = void `co_yield` gives
/// nothing. Move-only; at most one operation runs at a time.
///
/// Dropping a generator suspended at a `co_yield` while its loop is open
/// closes it (≙ the loop's finalizer hook): a task of that loop runs its
/// aclose() and that task's first step runs at once, so a body that
/// needs no awaits to clean up is finished when the destructor returns;
/// one that awaits in its cleanup goes on in the loop, and
/// shutdown_asyncgens() (Runner::close(), asyncio::run) closes those still
/// alive. Other generators are destroyed at once (their destructors run).
template <class T, class S>
class [[nodiscard]] AsyncGenerator {
  static_assert(!std::is_reference_v<T> && !std::is_void_v<T>, "AsyncGenerator<T>: T must be an object type");

 public:
  using promise_type = detail::AsyncGenPromise<T, S>;
  using value_type = T;
  using send_type = S;
  using handle_type = std::coroutine_handle<promise_type>;

  AsyncGenerator() noexcept = default;
  explicit AsyncGenerator(handle_type h) noexcept : h_(h) {}
  AsyncGenerator(AsyncGenerator&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  AsyncGenerator& operator=(AsyncGenerator&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~AsyncGenerator() { reset(); }

  /// `co_await gen.next()` (≙ `await anext(gen)`): the next yielded value,
  /// or nullopt once the body has returned (≙ StopAsyncIteration); rethrows
  /// what the body raises (the generator is then exhausted).
  /// RuntimeError("anext(): asynchronous generator is already running")
  /// while another operation runs.
  detail::GenValueAwaiter<T, S> next() noexcept { return {promise(), detail::GenOp::next}; }
  /// `co_await gen.asend(v)`: resumes the `co_yield` with `v`; as next().
  /// On a generator that has not started, std::invalid_argument("can't send
  /// non-None value to a just-started async generator") (≙ TypeError).
  template <class V>
    requires(!std::is_void_v<S> && std::is_constructible_v<S, V &&>)
  detail::GenValueAwaiter<T, S> asend(V&& v) {
    return {promise(), std::forward<V>(v)};
  }
  /// `co_await gen.athrow(e)`: raises `e` at the `co_yield`; gives the next
  /// value the body yields, nullopt if it returns, or rethrows what it
  /// raises. On a generator that has not started, `e` is raised at once and
  /// the generator is exhausted. "athrow(): asynchronous generator is
  /// already running" while another operation runs.
  detail::GenValueAwaiter<T, S> athrow(std::exception_ptr e) noexcept {
    return {promise(), detail::GenOp::raise, std::move(e)};
  }
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  detail::GenValueAwaiter<T, S> athrow(E&& e) {
    return athrow(std::make_exception_ptr(std::forward<E>(e)));
  }
  /// `co_await gen.aclose()`: raises GeneratorExit at the `co_yield`; the
  /// generator is closed once the body lets it (or anything else) out or
  /// returns; RuntimeError("async generator ignored GeneratorExit") if it
  /// yields instead; other exceptions propagate. A generator that has not
  /// started or is exhausted is just closed.
  detail::GenOpAwaiter aclose() { return {promise(), detail::GenOp::close, std::make_exception_ptr(GeneratorExit())}; }

  /// The end of a range-style loop (`it != gen.end()`).
  struct Sentinel {};
  /// The consumer's loop, the spelling of `async for v in gen:`
  ///     for (auto it = co_await gen.begin(); it != gen.end(); co_await ++it) use(*it);
  /// `*it` is the yielded value, in the generator's frame until the next
  /// step. (In a template, GCC 12 wants `(void)co_await ++it`; async_for()
  /// has no such caveat.)
  class Iterator {
   public:
    explicit Iterator(promise_type* p) noexcept : p_(p) {}
    T& operator*() const noexcept { return p_->value(); }
    T* operator->() const noexcept { return &p_->value(); }
    /// Steps the generator (await it).
    detail::GenStepAwaiter operator++() const noexcept { return detail::GenStepAwaiter(p_); }
    friend bool operator==(const Iterator& it, Sentinel) noexcept { return !it.p_->holds_value(); }

   private:
    promise_type* p_;
  };
  class BeginAwaiter : public detail::GenStepAwaiter {
   public:
    explicit BeginAwaiter(promise_type* p) noexcept : GenStepAwaiter(p) {}
    Iterator await_resume() {
      GenStepAwaiter::await_resume();
      return Iterator(static_cast<promise_type*>(g_));
    }
  };
  /// `co_await gen.begin()`: the first step of a range-style loop.
  BeginAwaiter begin() noexcept { return BeginAwaiter(promise()); }
  Sentinel end() const noexcept { return {}; }

  /// False once moved from.
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  /// True once the body has returned or raised, or aclose() closed it.
  bool done() const noexcept {
    return !h_ || h_.promise().gen_state() == detail::AsyncGenCore::GenState::done;
  }
  /// True while an operation runs (≙ ag_running).
  bool running() const noexcept {
    return h_ && h_.promise().gen_state() == detail::AsyncGenCore::GenState::running;
  }

 private:
  promise_type* promise() const noexcept { return h_ ? &h_.promise() : nullptr; }
  void reset() noexcept {
    if (h_) detail::AsyncGenCore::release(h_.promise());
    h_ = nullptr;
  }
  handle_type h_ = nullptr;
};

template <class T, class S>
AsyncGenerator<T, S> detail::AsyncGenPromise<T, S>::get_return_object() noexcept {
  auto h = std::coroutine_handle<AsyncGenPromise>::from_promise(*this);
  if constexpr (detail::check_frame_layout)
    if (h.address() != detail::last_frame) detail::miscompiled_coroutine();
  self_ = h;
  return AsyncGenerator<T, S>(h);
}

namespace detail {

template <class G>
struct IsAsyncGenerator : std::false_type {};
template <class T, class S>
struct IsAsyncGenerator<AsyncGenerator<T, S>> : std::true_type {};

template <class T, class S, class F>
Coroutine<> async_for_scope(AsyncGenerator<T, S>& gen, F body) {
  using R = body_result_t<F, T>;
  // `(void)`: GCC 12 cannot type a bare co_await in a template's for-increment.
  for (auto it = co_await gen.begin(); it != gen.end(); (void)co_await ++it) {
    if constexpr (std::is_void_v<R>) {
      co_await body_coroutine(body, *it);
    } else {
      const bool go_on = static_cast<bool>(co_await body_coroutine(body, *it));
      if (!go_on) break;
    }
  }
}

}  // namespace detail

/// `async for v in gen: body(v)`: steps `gen` to its end, calling `body`
/// with each value (a `T&`, in the generator's frame until the next step).
/// The body is a plain function or a coroutine; one that returns bool (or
/// Coroutine<bool>) stops the loop by returning false (≙ `break`). What the
/// generator or the body raises propagates; the generator is not closed
/// (as `async for` leaves it). `gen` must outlive the returned coroutine;
/// the body is moved into it.
template <class T, class S, class F>
  requires detail::ScopeBody<std::decay_t<F>, T>
Coroutine<> async_for(AsyncGenerator<T, S>& gen, F&& body) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::async_for_scope<T, S, std::decay_t<F>>(gen, std::forward<F>(body));
}

/// Closes every generator of the running loop that is suspended at a
/// `co_yield` (each aclose() in a task of its own, all at once), and
/// reports through the loop's exception handler any that raised ("an error
/// occurred during closing of asynchronous generator"). ≙
/// loop.shutdown_asyncgens(); Runner::close() and asyncio::run() await it.
Coroutine<> shutdown_asyncgens();

}  // namespace asyncio

#endif  // ASYNCIO_ASYNCGEN_HPP
