// asyncio-cpp: SPDX-License-Identifier: MIT
// Helpers shared by the tests (≙ Lib/test/test_asyncio/utils.py).
#ifndef ASYNCIO_TESTS_ASYNCIO_TEST_HPP
#define ASYNCIO_TESTS_ASYNCIO_TEST_HPP

#include <asyncio/asyncio.hpp>

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio_test {

/// Every call the loop made to its exception handler.
struct HandlerLog {
  std::vector<asyncio::ExceptionContext> calls;
  void install(asyncio::EventLoop& loop) {
    loop.set_exception_handler([this](asyncio::EventLoop&, const asyncio::ExceptionContext& c) { calls.push_back(c); });
  }
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const auto& c : calls) out.push_back(c.message);
    return out;
  }
};

/// A fresh loop per test (≙ IsolatedAsyncioTestCase / TestLoop). With
/// virtual time, loop.time() starts at 0 and jumps to the next timer when
/// nothing is ready.
struct TestLoop {
  explicit TestLoop(bool virtual_time = true) : loop(asyncio::LoopOptions{.virtual_time = virtual_time}) {
    log.install(loop);
  }
  HandlerLog log;  // declared first: the loop reports into it until it is gone
  asyncio::EventLoop loop;

  /// Runs the loop until a no-op task has run (≙ test_utils.run_briefly).
  void run_briefly() {
    loop.run_until_complete([]() -> asyncio::Coroutine<> { co_return; }());
  }
  /// Runs `n` passes of the loop.
  void run_passes(int n) {
    for (int i = 0; i < n; ++i) {
      loop.call_soon([this] { loop.stop(); });
      loop.run_forever();
    }
  }
};

/// Runs `coro` as the main task of a fresh loop and returns its value (or
/// rethrows), like asyncio.run with a virtual clock by default.
template <class T>
T run_test(asyncio::Coroutine<T> coro, bool virtual_time = true) {
  asyncio::Runner runner(asyncio::LoopOptions{.virtual_time = virtual_time});
  if constexpr (std::is_void_v<T>) {
    runner.run(std::move(coro));
    runner.close();
  } else {
    T v = runner.run(std::move(coro));
    runner.close();
    return v;
  }
}

/// Awaits `a` (a Coroutine, Task or Future, taken by value) and gives what
/// it threw, null if nothing: the coroutine counterpart of assertRaises.
template <class A>
asyncio::Coroutine<std::exception_ptr> raises(A a) {
  try {
    co_await a;
  } catch (...) {
    co_return std::current_exception();
  }
  co_return nullptr;
}

/// The message of the exception in `e` (what()).
inline std::string what(const std::exception_ptr& e) {
  if (!e) return "<nothing thrown>";
  try {
    std::rethrow_exception(e);
  } catch (const asyncio::BaseException& b) {
    return b.what();
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "<unknown>";
  }
}

/// True if `e` holds an E (or something derived from it).
template <class E>
bool holds(const std::exception_ptr& e) {
  return asyncio::holds_exception<E>(e);
}

/// Runs `f` and returns what it threw (null if nothing).
template <class F>
std::exception_ptr capture(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

/// True if `e` holds a std::system_error of `code`.
inline bool has_errc(const std::exception_ptr& e, std::errc code) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const std::system_error& x) {
    return x.code() == code;
  } catch (...) {
  }
  return false;
}

}  // namespace asyncio_test

/// ASSERT_* for coroutine bodies (ASSERT_* returns, which a coroutine
/// cannot): these co_return instead.
#define CO_ASSERT_TRUE(c) \
  do {                    \
    EXPECT_TRUE(c);       \
    if (!(c)) co_return;  \
  } while (0)
#define CO_ASSERT_FALSE(c) CO_ASSERT_TRUE(!(c))
#define CO_ASSERT_EQ(a, b)      \
  do {                          \
    EXPECT_EQ(a, b);            \
    if (!((a) == (b))) co_return; \
  } while (0)
#define CO_ASSERT_GT(a, b)     \
  do {                         \
    EXPECT_GT(a, b);           \
    if (!((a) > (b))) co_return; \
  } while (0)

/// EXPECT that the exception_ptr `eptr` holds an E whose message is exactly
/// `msg`.
#define EXPECT_EXC(eptr, E, msg)                                            \
  do {                                                                     \
    const std::exception_ptr expect_exc_e = (eptr);                        \
    EXPECT_TRUE(::asyncio_test::holds<E>(expect_exc_e)) << "expected " #E; \
    if (expect_exc_e) {                                                    \
      EXPECT_EQ(::asyncio_test::what(expect_exc_e), std::string(msg));     \
    }                                                                      \
  } while (0)

/// EXPECT that `stmt` throws E with exactly message `msg` (works inside
/// coroutines, where ASSERT_* cannot be used).
#define EXPECT_THROW_MSG(stmt, E, msg) EXPECT_EXC(::asyncio_test::capture([&] { stmt; }), E, msg)

#endif  // ASYNCIO_TESTS_ASYNCIO_TEST_HPP
