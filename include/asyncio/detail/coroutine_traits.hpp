// asyncio-cpp: SPDX-License-Identifier: MIT
// What can become a Coroutine: the awaitable operations that convert to one,
// and the callables that make one. Shared by create_task(), the loop's
// create_task(), TaskGroup::create_task() and gather().
#ifndef ASYNCIO_DETAIL_COROUTINE_TRAITS_HPP
#define ASYNCIO_DETAIL_COROUTINE_TRAITS_HPP

#include <asyncio/detail/fwd.hpp>

#include <functional>
#include <type_traits>
#include <utility>

namespace asyncio::detail {

/// The Coroutine type an awaitable converts to: a Coroutine itself, or an
/// operation that names it as `coroutine_type` (a queue's put() and get(),
/// a timeout scope).
template <class A>
struct CoroutineOf {};
template <class T>
struct CoroutineOf<Coroutine<T>> {
  using type = Coroutine<T>;
};
template <class A>
  requires requires { typename A::coroutine_type; }
struct CoroutineOf<A> {
  using type = typename A::coroutine_type;
};
template <class A>
using coroutine_of_t = typename CoroutineOf<std::remove_cvref_t<A>>::type;

/// A Coroutine, or an operation that converts to one, given as an rvalue.
template <class A>
concept ToCoroutine = requires { typename coroutine_of_t<A>; } && !std::is_lvalue_reference_v<A>;

/// An operation that converts to a Coroutine (not a Coroutine itself).
template <class A>
concept CoroutineOperation = ToCoroutine<A> && !std::is_same_v<coroutine_of_t<A>, std::remove_cvref_t<A>>;

template <ToCoroutine A>
coroutine_of_t<A> to_coroutine(A&& a) {
  return coroutine_of_t<A>(std::move(a));
}

template <class F, class... A>
using call_result_t = std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&...>;

/// A callable that, called with `args`, makes a Coroutine or an operation
/// that converts to one (≙ what Asio's co_spawn takes).
template <class F, class... A>
concept CoroutineFunction = std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...> &&
                            requires { typename coroutine_of_t<call_result_t<F, A...>>; };

template <class F, class... A>
using function_coroutine_t = coroutine_of_t<call_result_t<F, A...>>;

/// GCC 12 destroys a closure written inside a co_await expression twice
/// (it copies the temporary bit by bit and destroys both; design-notes.md,
/// "Compilers"): a lambda that captures by value anything with a destructor
/// (a std::string, a shared_ptr, a Future) is freed twice. No callee can
/// prevent it, so the functions whose result is awaited at once refuse
/// such a temporary under that compiler, at compile time. Named callables
/// (lvalues) and lambdas capturing by reference or trivially are fine.
/// (A std::function is built by a constructor, not member by member: GCC
/// handles its temporaries correctly.)
template <class F>
inline constexpr bool is_std_function = false;
template <class S>
inline constexpr bool is_std_function<std::function<S>> = true;
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
template <class F>
inline constexpr bool gcc12_unsafe_temporary = !std::is_lvalue_reference_v<F> &&
                                                std::is_class_v<std::remove_cvref_t<F>> &&
                                                !std::is_trivially_destructible_v<std::remove_cvref_t<F>> &&
                                                !is_std_function<std::remove_cvref_t<F>>;
#else
template <class F>
inline constexpr bool gcc12_unsafe_temporary = false;
#endif
#define ASYNCIO_GCC12_CALLABLE_CHECK(F)                                                                           \
  static_assert(!::asyncio::detail::gcc12_unsafe_temporary<F>,                                                    \
                "GCC 12 destroys a lambda written inside a co_await expression twice (a compiler bug): when it " \
                "captures by value anything with a destructor (a std::string, a shared_ptr, a Future), name it " \
                "first -- auto body = [=] {...}; co_await f(body) -- or capture by reference. See "            \
                "docs/design-notes.md, Compilers.")

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_COROUTINE_TRAITS_HPP
