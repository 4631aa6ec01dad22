#include "asyncio_test.hpp"

using namespace asyncio;
using asyncio_test::run_test;

namespace {
Coroutine<int> inner1() { co_return 42; }
Coroutine<int> inner2() { co_return 1000; }
Coroutine<int> outer() {
  int a = co_await inner1();
  int b = co_await inner2();
  co_return a + b;
}
}  // namespace

TEST(Tasks, Cat001_TaskBasics) { EXPECT_EQ(run_test(outer()), 1042); }

TEST(Sleep, VirtualTimeIsExact) {
  asyncio_test::TestLoop t;
  t.loop.run_until_complete([](EventLoop& loop) -> Coroutine<> {
    co_await sleep(10);
    EXPECT_DOUBLE_EQ(loop.time(), 10.0);
    co_return;  // HACK(gcc-12): a lambda coroutine without co_return warns -Wreturn-type
  }(t.loop));
}
