// asyncio-cpp: SPDX-License-Identifier: MIT
// Helpers shared by the composition headers (timeouts, taskgroups, wait,
// as_completed, shield): what a handle refers to, how a result is taken out
// of a shared future, and how a scope's body is called.
#ifndef ASYNCIO_DETAIL_COMPOSITION_HPP
#define ASYNCIO_DETAIL_COMPOSITION_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

namespace asyncio::detail {

/// Whether `H` is a Future<T>, a Task<T> or a TaskRef: a counted handle on
/// a FutureCore.
template <class H>
concept FutureHandle = std::is_base_of_v<CoreRef<TaskCore>, H> || requires(const H& h) {
  { h.state() } -> std::convertible_to<FutureCore*>;
};

/// The FutureCore a handle refers to.
template <FutureHandle H>
FutureCore* core_of(const H& h) noexcept {
  if constexpr (requires { h.state(); })
    return h.state();
  else
    return h.core();
}

/// Whether C is a Coroutine<T>.
template <class C>
struct IsCoroutine : std::false_type {};
template <class T>
struct IsCoroutine<Coroutine<T>> : std::true_type {};

/// A scope's body is called with the scope object (`Timeout&`,
/// `TaskGroup&`, what an async context manager's aenter() gave) or, if it
/// does not take one, with no argument.
template <class F, class Arg>
decltype(auto) invoke_body(F& body, Arg& arg) {
  if constexpr (std::is_invocable_v<F&, Arg&>)
    return std::invoke(body, arg);
  else
    return std::invoke(body);
}

template <class F, class Arg>
using body_return_t = decltype(invoke_body(std::declval<F&>(), std::declval<Arg&>()));

/// A callable a scope accepts as its body: called with `Arg&` (or nothing),
/// it returns a Coroutine<R> (awaited in the scope) or is a plain function
/// (no co_await) returning R or nothing, called in the scope.
template <class F, class Arg>
concept ScopeBody = std::is_invocable_v<F&, Arg&> || std::is_invocable_v<F&>;

template <class B>
struct BodyResult {
  using type = B;
};
template <class T>
struct BodyResult<Coroutine<T>> {
  using type = T;
};
/// R for a body returning Coroutine<R>, or R itself for a plain one.
template <class F, class Arg>
using body_result_t = typename BodyResult<std::remove_cvref_t<body_return_t<F, Arg>>>::type;

/// A plain body as a coroutine: called when awaited, so inside the scope.
template <class R, class F, class Arg>
Coroutine<R> plain_body(F& body, Arg& arg) {
  if constexpr (std::is_void_v<R>) {
    invoke_body(body, arg);
    co_return;
  } else {
    co_return invoke_body(body, arg);
  }
}

/// The body's coroutine: what it returns, or plain_body() for a plain one.
template <class F, class Arg>
Coroutine<body_result_t<F, Arg>> body_coroutine(F& body, Arg& arg) {
  if constexpr (IsCoroutine<std::remove_cvref_t<body_return_t<F, Arg>>>::value)
    return invoke_body(body, arg);
  else
    return plain_body<body_result_t<F, Arg>>(body, arg);
}

/// The result of a done handle as a value (rethrows its exception).
template <class H>
auto result_value(const H& h) {
  core_of(h)->check_result();
  return shared_value(h.state());
}

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_COMPOSITION_HPP
