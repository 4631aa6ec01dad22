// Tests for include/asyncio/asyncgen.hpp (≙ the AsyncGenAsyncioTest cases
// of Lib/test/test_asyncgen.py, CPython v3.13.0, each named after its test;
// cases about Python objects (tuples, StopIteration values, get_stack,
// sync generators, gc) are left out or adapted as noted).
#include <asyncio/asyncgen.hpp>  // first: proves the header is self-contained

#include "asyncio_test.hpp"

#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::run_test;
using asyncio_test::TestLoop;
using asyncio_test::what;

namespace {

struct ZeroDivisionError : std::runtime_error {
  ZeroDivisionError() : std::runtime_error("division by zero") {}
};

// ≙ AsyncGenAsyncioTest.to_list, with the async-for spelling.
Coroutine<std::vector<int>> to_list(AsyncGenerator<int> gen) {
  std::vector<int> res;
  for (auto it = co_await gen.begin(); it != gen.end(); co_await ++it) res.push_back(*it);
  co_return res;
}

// Awaits what `op()` makes (a generator operation) and gives what it threw.
template <class F>
Coroutine<std::exception_ptr> raised(F op) {
  try {
    co_await op();
  } catch (...) {
    co_return std::current_exception();
  }
  co_return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// The basics: to_list over a generator that awaits between its yields.

TEST(AsyncGen, test_async_gen_asyncio_01) {
  auto gen = []() -> AsyncGenerator<int> {
    co_yield 1;
    co_await asyncio::sleep(0.01);
    co_yield 2;
    co_await asyncio::sleep(0.01);
    co_return;
  };
  EXPECT_EQ(run_test(to_list(gen())), (std::vector<int>{1, 2}));
}

TEST(AsyncGen, test_async_gen_asyncio_02) {
  auto gen = []() -> AsyncGenerator<int> {
    co_yield 1;
    co_await asyncio::sleep(0.01);
    co_yield 2;
    throw ZeroDivisionError();
    co_yield 3;
  };
  EXPECT_THROW(run_test(to_list(gen())), ZeroDivisionError);
}

TEST(AsyncGen, test_async_gen_asyncio_anext_04) {
  auto foo = []() -> AsyncGenerator<int> {
    co_yield 1;
    co_await asyncio::sleep(0.01);
    bool caught = false;
    try {
      co_yield 2;
      co_yield 3;
    } catch (const ZeroDivisionError&) {
      caught = true;
    }
    if (caught) co_yield 1000;
    co_await asyncio::sleep(0.01);
    co_yield 4;
  };
  run_test([&]() -> Coroutine<> {
    auto it = foo();
    EXPECT_EQ(co_await it.next(), 1);
    EXPECT_EQ(co_await it.next(), 2);
    EXPECT_EQ(co_await it.next(), 3);
    EXPECT_EQ(co_await it.next(), 4);
    EXPECT_EQ(co_await it.next(), std::nullopt);
    EXPECT_EQ(co_await it.next(), std::nullopt);
  }());
  run_test([&]() -> Coroutine<> {
    auto it = foo();
    EXPECT_EQ(co_await it.next(), 1);
    EXPECT_EQ(co_await it.next(), 2);
    EXPECT_EQ(co_await it.athrow(ZeroDivisionError()), 1000);
    EXPECT_EQ(co_await it.next(), 4);
    EXPECT_EQ(co_await it.next(), std::nullopt);
  }());
}

TEST(AsyncGen, test_async_gen_asyncio_anext_05) {
  auto foo = []() -> AsyncGenerator<int, int> {
    std::optional<int> v = co_yield 1;
    v = co_yield *v;
    co_yield *v * 100;
  };
  run_test([&]() -> Coroutine<> {
    auto it = foo();
    EXPECT_EQ(co_await it.next(), 1);
    EXPECT_EQ(co_await it.asend(10), 10);
    EXPECT_EQ(co_await it.asend(12), 1200);
    EXPECT_EQ(co_await it.next(), std::nullopt);
  }());
}

TEST(AsyncGen, test_async_gen_asyncio_anext_06) {
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
    done = 1;
  };
  run_test([&]() -> Coroutine<> {
    auto g = gen();
    co_await g.next();
    EXPECT_EQ(co_await g.next(), std::nullopt);  // StopAsyncIteration
    done += 10;
  }());
  EXPECT_EQ(done, 11);
}

TEST(AsyncGen, test_async_gen_asyncio_anext_tuple) {
  // Yields a class value; a value yielded in answer to athrow() is athrow()'s.
  auto foo = []() -> AsyncGenerator<std::vector<int>> {
    bool caught = false;
    std::vector<int> v{1};
    try {
      co_yield v;
    } catch (const ZeroDivisionError&) {
      caught = true;
    }
    v = {2};
    if (caught) co_yield std::move(v);
  };
  run_test([&]() -> Coroutine<> {
    auto it = foo();
    const std::vector<int> one{1}, two{2};
    EXPECT_EQ(co_await it.next(), one);
    EXPECT_EQ(co_await it.athrow(ZeroDivisionError()), two);
    EXPECT_EQ(co_await it.next(), std::nullopt);
  }());
}

TEST(AsyncGen, test_async_gen_asyncio_aclose_06) {
  auto foo = []() -> AsyncGenerator<int> {
    std::exception_ptr exc;
    try {
      co_yield 1;
      throw ZeroDivisionError();
    } catch (...) {
      exc = std::current_exception();
    }
    // finally:
    co_await asyncio::sleep(0.01);
    co_yield 12;
    std::rethrow_exception(exc);
  };
  EXPECT_EXC(run_test([&]() -> Coroutine<std::exception_ptr> {
               auto gen = foo();
               co_await gen.next();
               co_return co_await raised([&] { return gen.aclose(); });
             }()),
             RuntimeError, "async generator ignored GeneratorExit");
}

TEST(AsyncGen, test_async_gen_asyncio_aclose_07) {
  int done = 0;
  auto foo = [&]() -> AsyncGenerator<int> {
    std::exception_ptr exc;
    try {
      co_yield 1;
      throw ZeroDivisionError();
    } catch (...) {
      exc = std::current_exception();
    }
    co_await asyncio::sleep(0.01);
    co_await asyncio::sleep(0.01);
    done += 1;
    if (exc) std::rethrow_exception(exc);
    done += 1000;
  };
  run_test([&]() -> Coroutine<> {
    auto gen = foo();
    co_await gen.next();
    co_await gen.aclose();
  }());
  EXPECT_EQ(done, 1);
}

TEST(AsyncGen, test_async_gen_asyncio_aclose_08) {
  int done = 0;
  TestLoop t;
  Future<void> fut = t.loop.create_future();
  auto foo = [&]() -> AsyncGenerator<int> {
    std::exception_ptr exc;
    try {
      co_yield 1;
      co_await fut;
      done += 1000;
      co_yield 2;
    } catch (...) {
      exc = std::current_exception();
    }
    co_await asyncio::sleep(0.01);
    co_await asyncio::sleep(0.01);
    done += 1;
    if (exc) std::rethrow_exception(exc);
    done += 1000;
  };
  t.loop.run_until_complete([&]() -> Coroutine<> {
    auto gen = foo();
    EXPECT_EQ(co_await gen.next(), 1);
    co_await gen.aclose();
  }());
  EXPECT_EQ(done, 1);
  fut.cancel();
  t.loop.run_until_complete(asyncio::sleep(0.01));
}

TEST(AsyncGen, test_async_gen_asyncio_gc_aclose_09) {
  // `del g` is the end of the generator object's scope: its loop runs
  // aclose() in a task whose first step runs at once.
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int> {
    std::exception_ptr exc;
    try {
      while (true) co_yield 1;
    } catch (...) {
      exc = std::current_exception();
    }
    co_await asyncio::sleep(0);
    done = 1;
    std::rethrow_exception(exc);
  };
  run_test([&]() -> Coroutine<> {
    {
      auto g = gen();
      co_await g.next();
      co_await g.next();
    }
    EXPECT_EQ(done, 0);
    co_await asyncio::sleep(0);  // the sleep(0) of the cleanup
    EXPECT_EQ(done, 1);
  }());
  EXPECT_EQ(done, 1);
}

TEST(AsyncGen, test_async_gen_asyncio_aclose_10) {
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
    done = 1;
  };
  run_test([&]() -> Coroutine<> {
    auto g = gen();
    co_await g.next();
    co_await g.aclose();
    done += 10;
  }());
  EXPECT_EQ(done, 11);
}

TEST(AsyncGen, test_async_gen_asyncio_aclose_11) {
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
    co_yield 0;
    done += 1;
  };
  run_test([&]() -> Coroutine<> {
    auto g = gen();
    co_await g.next();
    EXPECT_EXC(co_await raised([&] { return g.aclose(); }), RuntimeError, "async generator ignored GeneratorExit");
    done += 10;
  }());
  EXPECT_EQ(done, 10);
}

TEST(AsyncGen, test_async_gen_asyncio_aclose_12) {
  int done = 0;
  auto target = []() -> Coroutine<> {
    co_await asyncio::sleep(0.01);
    throw ZeroDivisionError();
  };
  auto foo = [&]() -> AsyncGenerator<int> {
    Task<void> task = create_task(target());
    std::exception_ptr exc;
    try {
      co_yield 1;
    } catch (...) {
      exc = std::current_exception();
    }
    try {
      co_await task;
    } catch (const ZeroDivisionError&) {
      done = 1;
    }
    if (exc) std::rethrow_exception(exc);
  };
  run_test([&]() -> Coroutine<> {
    auto gen = foo();
    co_await gen.next();
    co_await gen.aclose();
  }());
  EXPECT_EQ(done, 1);
}

TEST(AsyncGen, test_async_gen_asyncio_asend_01) {
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int, int> {
    co_await asyncio::sleep(0.01);
    std::optional<int> v;
    try {
      v = co_yield 1;
      co_await asyncio::sleep(0.01);
      v = co_yield *v * 2;
      co_await asyncio::sleep(0.01);
      co_return;
    } catch (...) {
      done = 1;  // finally
      throw;
    }
  };
  run_test([&]() -> Coroutine<> {
    auto g = gen();
    EXPECT_EQ(co_await g.next(), 1);
    EXPECT_EQ(co_await g.asend(100), 200);
    EXPECT_EQ(co_await g.asend(1000), std::nullopt);
  }());
  EXPECT_EQ(done, 0);
}

TEST(AsyncGen, test_async_gen_asyncio_asend_02) {
  int done = 0;
  auto sleep_n_crash = [](double delay) -> Coroutine<> {
    co_await asyncio::sleep(delay);
    throw ZeroDivisionError();
  };
  auto gen = [&]() -> AsyncGenerator<int, int> {
    std::exception_ptr exc;
    try {
      co_await asyncio::sleep(0.01);
      std::optional<int> v = co_yield 1;
      co_await sleep_n_crash(0.01);
      done += 1000;
      co_yield *v * 2;
    } catch (...) {
      exc = std::current_exception();
    }
    co_await asyncio::sleep(0.01);
    co_await asyncio::sleep(0.01);
    done = 1;
    std::rethrow_exception(exc);
  };
  EXPECT_THROW(run_test([&]() -> Coroutine<> {
                 auto g = gen();
                 EXPECT_EQ(co_await g.next(), 1);
                 co_await g.asend(100);
               }()),
               ZeroDivisionError);
  EXPECT_EQ(done, 1);
}

TEST(AsyncGen, test_async_gen_asyncio_asend_03) {
  // The step is cancelled while it awaits: CancelledError comes out of the
  // generator into the consumer, whose task ends cancelled.
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int, int> {
    std::exception_ptr exc;
    try {
      co_await asyncio::sleep(0.01);
      std::optional<int> v = co_yield 1;
      co_await asyncio::sleep(10);  // cancelled here
      done += 1000;
      co_yield *v * 2;
    } catch (...) {
      exc = std::current_exception();
    }
    co_await asyncio::sleep(0.01);
    co_await asyncio::sleep(0.01);
    done = 1;
    std::rethrow_exception(exc);
  };
  EXPECT_THROW(run_test([&]() -> Coroutine<> {
                 TaskRef main = current_task();
                 auto g = gen();
                 EXPECT_EQ(co_await g.next(), 1);
                 get_running_loop().call_later(0.005, [main]() mutable { main.cancel(); });
                 co_await g.asend(100);
               }()),
               CancelledError);
  EXPECT_EQ(done, 1);
}
