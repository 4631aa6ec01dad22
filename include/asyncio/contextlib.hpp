// asyncio-cpp: SPDX-License-Identifier: MIT
// Asynchronous context managers: `async with cm as value: body`.
// ≙ the __aenter__/__aexit__ protocol (Lib/contextlib.py's
// AbstractAsyncContextManager) and the `async with` statement.
#ifndef ASYNCIO_CONTEXTLIB_HPP
#define ASYNCIO_CONTEXTLIB_HPP

#include <asyncio/asyncgen.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/detail/composition.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace asyncio {

/// An asynchronous context manager (≙ an object with `__aenter__` and
/// `__aexit__`): `cm.aenter()` enters and gives what `async with cm as x`
/// binds (or nothing); `cm.aexit(exc)` leaves, given the exception the block
/// raised (null when it ended normally), and may give true to suppress it.
/// Each is a coroutine (returns a Coroutine, Task or Future) or a plain
/// function. Lock, Condition, Semaphore, BoundedSemaphore and Server are
/// such managers; Timeout and TaskGroup have async_with() overloads of
/// their own (timeouts.hpp, taskgroups.hpp).
template <class CM>
concept AsyncContextManager = requires(CM& cm, std::exception_ptr e) {
  cm.aenter();
  cm.aexit(e);
};

namespace detail {

/// A Coroutine, Task or Future: awaited. Anything else is a plain result.
template <class R>
concept AwaitedResult = requires { typename std::remove_cvref_t<R>::value_type; } &&
                        requires(std::remove_cvref_t<R>& r) { r.operator co_await(); };

template <class R>
struct ResultOf {
  using type = R;
};
template <AwaitedResult R>
struct ResultOf<R> {
  using type = typename std::remove_cvref_t<R>::value_type;
};
/// What aenter()/aexit() give once awaited.
template <class R>
using result_of_t = typename ResultOf<R>::type;

template <class CM>
using entered_t = result_of_t<decltype(std::declval<CM&>().aenter())>;

/// The result of calling `f()`, awaited when it is a Coroutine/Task/Future,
/// as a Coroutine of its own (so that it can be awaited in any case).
template <class R, class F>
Coroutine<R> await_call(F f) {
  if constexpr (AwaitedResult<std::invoke_result_t<F&>>) {
    if constexpr (std::is_void_v<R>)
      co_await f();
    else
      co_return co_await f();
  } else if constexpr (std::is_void_v<R>) {
    f();
    co_return;
  } else {
    co_return f();
  }
}

/// `async with cm as value: return body(value)`. The body is called with
/// what aenter() gave (the manager itself when it gave nothing), or with
/// nothing; it lives in this frame.
template <class R, class CM, class F>
Coroutine<R> async_with_scope(CM& cm, F body) {
  using Entered = entered_t<CM>;
  using Arg = std::conditional_t<std::is_void_v<Entered>, CM, Entered>;
  std::optional<std::conditional_t<std::is_void_v<Entered>, char, Entered>> entered;
  Arg* arg = nullptr;
  if constexpr (std::is_void_v<Entered>) {
    co_await await_call<void>([&cm] { return cm.aenter(); });
    arg = &cm;
  } else {
    entered.emplace(co_await await_call<Entered>([&cm] { return cm.aenter(); }));
    arg = &*entered;
  }
  std::exception_ptr exc;
  std::optional<std::conditional_t<std::is_void_v<R>, char, R>> result;
  try {
    if constexpr (std::is_void_v<R>)
      co_await body_coroutine(body, *arg);
    else
      result.emplace(co_await body_coroutine(body, *arg));
  } catch (...) {
    exc = std::current_exception();
  }
  // C++ cannot co_await inside a handler: the exit runs after it.
  using Exit = result_of_t<decltype(cm.aexit(exc))>;
  if constexpr (std::is_void_v<Exit>) {
    co_await await_call<void>([&cm, &exc] { return cm.aexit(exc); });
    if (exc) std::rethrow_exception(exc);
  } else {
    const bool suppress = static_cast<bool>(co_await await_call<Exit>([&cm, &exc] { return cm.aexit(exc); }));
    if (exc && !suppress) std::rethrow_exception(exc);
    if constexpr (!std::is_void_v<R>) {
      // Suppressed: the block gave nothing (code after `async with` goes on).
      static_assert(std::is_default_constructible_v<R>,
                    "a manager whose aexit() may suppress exceptions needs a default-constructible body result");
      if (exc) co_return R{};
    }
  }
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

template <class CM, class F>
using with_result_t = body_result_t<F, std::conditional_t<std::is_void_v<entered_t<CM>>, CM, entered_t<CM>>>;

}  // namespace detail

/// `async with cm as value:` — awaits `cm.aenter()`, runs `body` (given
/// what aenter() gave, the manager itself when it gave nothing, or no
/// argument), then awaits `cm.aexit(exc)` with the exception the body
/// raised (null when none) however the body ended; the exception goes on
/// unless aexit() gave true. Gives what the body returns (a default value
/// when aexit() suppressed an exception). The body is a coroutine or a
/// plain function, moved into the returned coroutine at once. `cm` must
/// outlive the returned coroutine. For example:
/// `co_await async_with(lock, [&] { ++shared_counter; });`
template <AsyncContextManager CM, class F>
  requires detail::ScopeBody<std::decay_t<F>,
                             std::conditional_t<std::is_void_v<detail::entered_t<CM>>, CM, detail::entered_t<CM>>>
Coroutine<detail::with_result_t<CM, std::decay_t<F>>> async_with(CM& cm, F&& body) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::async_with_scope<detail::with_result_t<CM, std::decay_t<F>>, CM, std::decay_t<F>>(
      cm, std::forward<F>(body));
}

/// An async context manager written as one generator (≙ the object an
/// @asynccontextmanager function returns, contextlib's
/// _AsyncGeneratorContextManager): aenter() runs the generator up to its
/// `co_yield` and gives the yielded value (RuntimeError("generator didn't
/// yield") if it returns first); aexit() resumes it after the block, with
/// the block's exception raised at the `co_yield` (athrow()), so teardown
/// written after the `co_yield` (or in a handler around it) runs. The
/// exception is suppressed if the generator catches it and returns; it
/// propagates if the generator lets it (or anything else) out. A generator
/// that yields again raises RuntimeError("generator didn't stop") (or
/// "generator didn't stop after athrow()"), after aclose(). Single use.
template <class T, class S = void>
class GeneratorContextManager {
 public:
  explicit GeneratorContextManager(AsyncGenerator<T, S> gen, std::shared_ptr<void> keep_alive = nullptr) noexcept
      : gen_(std::move(gen)), keep_alive_(std::move(keep_alive)) {}

  /// ≙ __aenter__: the value the generator yields.
  Coroutine<T> aenter() {
    std::optional<T> v = co_await gen_.next();
    if (!v) throw RuntimeError("generator didn't yield");
    co_return std::move(*v);
  }
  /// ≙ __aexit__: true when the generator suppressed `exc`.
  Coroutine<bool> aexit(std::exception_ptr exc) {
    if (!exc) {
      std::optional<T> v = co_await gen_.next();
      if (!v) co_return false;
      co_await gen_.aclose();
      throw RuntimeError("generator didn't stop");
    }
    std::exception_ptr raised;
    bool yielded = false;
    try {
      std::optional<T> again = co_await gen_.athrow(exc);
      yielded = again.has_value();
    } catch (...) {
      raised = std::current_exception();
    }
    if (raised) {
      if (raised == exc) co_return false;  // the block's own exception goes on
      std::rethrow_exception(raised);
    }
    if (!yielded) co_return true;  // caught and returned: suppressed
    co_await gen_.aclose();
    throw RuntimeError("generator didn't stop after athrow()");
  }
  /// The generator (≙ the `gen` attribute).
  AsyncGenerator<T, S>& gen() noexcept { return gen_; }

 private:
  AsyncGenerator<T, S> gen_;
  std::shared_ptr<void> keep_alive_;
};

/// `asynccontextmanager(gen)`: the manager of one generator object, for
/// `co_await async_with(cm, body)`.
template <class T, class S>
GeneratorContextManager<T, S> asynccontextmanager(AsyncGenerator<T, S> gen) noexcept {
  return GeneratorContextManager<T, S>(std::move(gen));
}

/// `asynccontextmanager(f)` (≙ the @asynccontextmanager decorator): a
/// function that calls `f(args...)`, a function returning an
/// AsyncGenerator, and gives the manager of that generator. `f` is kept
/// (shared) by every manager made, so a lambda generator's captures live
/// as long as its frames.
template <class F>
  requires(!detail::IsAsyncGenerator<std::decay_t<F>>::value)
auto asynccontextmanager(F&& f) {
  auto fn = std::make_shared<std::decay_t<F>>(std::forward<F>(f));
  return [fn](auto&&... args) {
    auto gen = std::invoke(*fn, std::forward<decltype(args)>(args)...);
    static_assert(detail::IsAsyncGenerator<decltype(gen)>::value,
                  "asynccontextmanager(f): f must return an AsyncGenerator");
    using G = decltype(gen);
    return GeneratorContextManager<typename G::value_type, typename G::send_type>(std::move(gen), fn);
  };
}

/// `async with aclosing(thing):` (≙ contextlib.aclosing): awaits
/// `thing.aclose()` when the block ends, however it ends (an AsyncGenerator,
/// or anything whose aclose() gives an awaitable); the block's exception
/// goes on. The body gets the manager (`thing()` is the object) or no
/// argument. `thing` must outlive the `co_await`.
template <class T>
class Aclosing {
 public:
  explicit Aclosing(T& thing) noexcept : thing_(thing) {}
  void aenter() const noexcept {}
  Coroutine<bool> aexit(std::exception_ptr) {
    co_await thing_.aclose();
    co_return false;
  }
  /// The object closed at the end (≙ what `as` binds).
  T& thing() const noexcept { return thing_; }

 private:
  T& thing_;
};

/// ≙ contextlib.aclosing(thing).
template <class T>
Aclosing<T> aclosing(T& thing) noexcept {
  return Aclosing<T>(thing);
}

}  // namespace asyncio

#endif  // ASYNCIO_CONTEXTLIB_HPP
