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
/// `TaskGroup&`) or, if it does not take one, with no argument.
template <class F, class Arg>
decltype(auto) invoke_body(F& body, Arg& arg) {
  if constexpr (std::is_invocable_v<F&, Arg&>)
    return std::invoke(body, arg);
  else
    return std::invoke(body);
}

template <class F, class Arg>
using body_coroutine_t = std::remove_cvref_t<decltype(invoke_body(std::declval<F&>(), std::declval<Arg&>()))>;

/// A callable a scope accepts as its body: called with `Arg&` (or nothing),
/// it returns a Coroutine<R>.
template <class F, class Arg>
concept ScopeBody = (std::is_invocable_v<F&, Arg&> || std::is_invocable_v<F&>) &&
                    IsCoroutine<body_coroutine_t<F, Arg>>::value;

/// R for a body returning Coroutine<R>.
template <class F, class Arg>
using body_result_t = typename body_coroutine_t<F, Arg>::value_type;

/// The result of a done handle as a value (rethrows its exception).
template <class H>
auto result_value(const H& h) {
  core_of(h)->check_result();
  return shared_value(h.state());
}

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_COMPOSITION_HPP
