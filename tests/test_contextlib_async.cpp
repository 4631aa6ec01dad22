// Tests for asynccontextmanager (include/asyncio/contextlib.hpp) (≙ the
// AsyncContextManagerTestCase cases of Lib/test/test_contextlib_async.py,
// CPython v3.13.0, each named after its test; tracebacks, attributes and
// docstrings have no C++ counterpart). The generators yield a value: C++'s
// co_yield needs one (Python's bare `yield` is `co_yield 0` here).
#include <asyncio/contextlib.hpp>  // first: proves the header is self-contained

#include "asyncio_test.hpp"

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::run_test;

namespace {

struct ZeroDivisionError : std::runtime_error {
  explicit ZeroDivisionError(const std::string& what = "division by zero") : std::runtime_error(what) {}
};

// The block's exception, made once so that identity can be checked.
template <class E>
std::exception_ptr make(E e) {
  return std::make_exception_ptr(std::move(e));
}

}  // namespace

TEST(AsyncContextManager, test_async_gen_propagates_generator_exit) {
  auto ctx = asynccontextmanager([]() -> AsyncGenerator<int> { co_yield 0; });
  auto gen = [&]() -> AsyncGenerator<int> {
    auto cm = ctx();
    // `async with ctx(): yield 11`: the generator is closed inside the block.
    std::exception_ptr exc;
    co_await cm.aenter();
    try {
      co_yield 11;
    } catch (...) {
      exc = std::current_exception();
    }
    const bool suppressed = co_await cm.aexit(exc);
    if (exc && !suppressed) std::rethrow_exception(exc);
  };
  run_test([&]() -> Coroutine<> {
    auto g = gen();
    co_await async_for(g, [](int val) {
      EXPECT_EQ(val, 11);
      return false;
    });
    co_await g.aclose();
    EXPECT_TRUE(g.done());
  }());
}

TEST(AsyncContextManager, test_contextmanager_plain) {
  std::vector<int> state;
  auto woohoo = asynccontextmanager([&]() -> AsyncGenerator<int> {
    state.push_back(1);
    co_yield 42;
    state.push_back(999);
  });
  run_test([&]() -> Coroutine<> {
    auto cm = woohoo();
    co_await async_with(cm, [&](int x) {
      EXPECT_EQ(state, std::vector<int>{1});
      EXPECT_EQ(x, 42);
      state.push_back(x);
    });
  }());
  EXPECT_EQ(state, (std::vector<int>{1, 42, 999}));
}

TEST(AsyncContextManager, test_contextmanager_finally) {
  std::vector<int> state;
  auto woohoo = asynccontextmanager([&]() -> AsyncGenerator<int> {
    state.push_back(1);
    struct Finally {
      std::vector<int>& s;
      ~Finally() { s.push_back(999); }
    } finally{state};
    co_yield 42;
  });
  EXPECT_THROW(run_test([&]() -> Coroutine<> {
                 auto cm = woohoo();
                 co_await async_with(cm, [&](int x) {
                   EXPECT_EQ(state, std::vector<int>{1});
                   EXPECT_EQ(x, 42);
                   state.push_back(x);
                   throw ZeroDivisionError();
                 });
               }()),
               ZeroDivisionError);
  EXPECT_EQ(state, (std::vector<int>{1, 42, 999}));
}

TEST(AsyncContextManager, test_contextmanager_no_reraise) {
  auto whee = asynccontextmanager([]() -> AsyncGenerator<int> { co_yield 0; });
  run_test([&]() -> Coroutine<> {
    auto ctx = whee();
    co_await ctx.aenter();
    // Calling aexit() does not raise: the exception goes back to the caller.
    EXPECT_FALSE(co_await ctx.aexit(make(std::invalid_argument("foo"))));
  }());
}

TEST(AsyncContextManager, test_contextmanager_trap_yield_after_throw) {
  auto whoo = asynccontextmanager([]() -> AsyncGenerator<int> {
    bool caught = false;
    try {
      co_yield 0;
    } catch (...) {
      caught = true;
    }
    if (caught) co_yield 0;
  });
  run_test([&]() -> Coroutine<> {
    auto ctx = whoo();
    co_await ctx.aenter();
    std::exception_ptr e;
    try {
      co_await ctx.aexit(make(std::invalid_argument("foo")));
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, RuntimeError, "generator didn't stop after athrow()");
    EXPECT_TRUE(ctx.gen().done());
  }());
}

TEST(AsyncContextManager, test_contextmanager_trap_no_yield) {
  auto whoo = asynccontextmanager([]() -> AsyncGenerator<int> { co_return; });
  run_test([&]() -> Coroutine<> {
    auto ctx = whoo();
    std::exception_ptr e;
    try {
      co_await ctx.aenter();
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, RuntimeError, "generator didn't yield");
  }());
}

TEST(AsyncContextManager, test_contextmanager_trap_second_yield) {
  auto whoo = asynccontextmanager([]() -> AsyncGenerator<int> {
    co_yield 0;
    co_yield 0;
  });
  run_test([&]() -> Coroutine<> {
    auto ctx = whoo();
    co_await ctx.aenter();
    std::exception_ptr e;
    try {
      co_await ctx.aexit(nullptr);
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, RuntimeError, "generator didn't stop");
    EXPECT_TRUE(ctx.gen().done());
  }());
}

TEST(AsyncContextManager, test_contextmanager_non_normalised) {
  struct SyntaxError : std::runtime_error {
    SyntaxError() : std::runtime_error("SyntaxError") {}
  };
  auto whoo = asynccontextmanager([]() -> AsyncGenerator<int> {
    bool caught = false;
    try {
      co_yield 0;
    } catch (const RuntimeError&) {
      caught = true;
    }
    if (caught) throw SyntaxError();
  });
  run_test([&]() -> Coroutine<> {
    auto ctx = whoo();
    co_await ctx.aenter();
    std::exception_ptr e;
    try {
      co_await ctx.aexit(make(RuntimeError("")));
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_TRUE(holds<SyntaxError>(e));
  }());
}

TEST(AsyncContextManager, test_contextmanager_except) {
  std::vector<int> state;
  auto woohoo = asynccontextmanager([&]() -> AsyncGenerator<int> {
    state.push_back(1);
    try {
      co_yield 42;
    } catch (const ZeroDivisionError& e) {
      state.push_back(std::stoi(e.what()));
      EXPECT_EQ(state, (std::vector<int>{1, 42, 999}));
    }
  });
  run_test([&]() -> Coroutine<> {
    auto cm = woohoo();
    co_await async_with(cm, [&](int x) {
      EXPECT_EQ(state, std::vector<int>{1});
      EXPECT_EQ(x, 42);
      state.push_back(x);
      throw ZeroDivisionError("999");
    });
  }());
  EXPECT_EQ(state, (std::vector<int>{1, 42, 999}));
}

TEST(AsyncContextManager, test_contextmanager_except_stopiter) {
  // The block's exception comes out as the same object when the generator
  // lets it through.
  auto woohoo = asynccontextmanager([]() -> AsyncGenerator<int> { co_yield 0; });
  const std::exception_ptr stop_exc = make(std::out_of_range("spam"));
  run_test([&]() -> Coroutine<> {
    auto cm = woohoo();
    std::exception_ptr ex;
    try {
      co_await async_with(cm, [&](int) { std::rethrow_exception(stop_exc); });
    } catch (...) {
      ex = std::current_exception();
    }
    EXPECT_EQ(ex, stop_exc);
  }());
}

TEST(AsyncContextManager, test_contextmanager_wrap_runtimeerror) {
  auto woohoo = asynccontextmanager([]() -> AsyncGenerator<int> {
    std::string caught;
    try {
      co_yield 0;
    } catch (const std::exception& exc) {
      caught = exc.what();
    }
    if (!caught.empty()) throw RuntimeError("caught " + caught);
  });
  run_test([&]() -> Coroutine<> {
    auto cm = woohoo();
    std::exception_ptr e;
    try {
      co_await async_with(cm, [](int) { throw ZeroDivisionError(); });
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, RuntimeError, "caught division by zero");
  }());
}

TEST(AsyncContextManager, test_recursive) {
  // A manager whose generator uses the same factory inside its own block.
  int depth = 0;
  auto woohoo = asynccontextmanager([&]() -> AsyncGenerator<int> {
    ++depth;
    co_yield depth;
    --depth;
  });
  std::function<Coroutine<>(int)> recursive = [&](int n) -> Coroutine<> {
    if (n >= 10) co_return;
    auto cm = woohoo();
    auto body = [&](int d) -> Coroutine<> {
      EXPECT_EQ(d, n + 1);
      co_await recursive(n + 1);
    };
    co_await async_with(cm, body);
  };
  run_test(recursive(0));
  EXPECT_EQ(depth, 0);
}

TEST(AsyncContextManager, test_contextmanager_teardown_awaits) {
  // Teardown after the co_yield awaits (≙ `finally: await ...`), inside the
  // task running the block.
  std::vector<std::string> log;
  auto resource = asynccontextmanager([&](std::string name) -> AsyncGenerator<std::string> {
    co_await asyncio::sleep(0.01);
    log.push_back("open " + name);
    std::exception_ptr exc;
    try {
      co_yield name;
    } catch (...) {
      exc = std::current_exception();
    }
    co_await asyncio::sleep(0.01);
    log.push_back("close " + name);
    if (exc) std::rethrow_exception(exc);
  });
  EXPECT_THROW(run_test([&]() -> Coroutine<> {
                 auto cm = resource("db");
                 co_await async_with(cm, [&](std::string& n) -> Coroutine<> {
                   co_await asyncio::sleep(0.01);
                   log.push_back("use " + n);
                   throw ZeroDivisionError();
                 });
               }()),
               ZeroDivisionError);
  EXPECT_EQ(log, (std::vector<std::string>{"open db", "use db", "close db"}));
}

TEST(AsyncContextManager, test_aclosing) {
  struct C {
    std::vector<int>* state;
    Coroutine<> aclose() {
      state->push_back(1);
      co_return;
    }
  };
  std::vector<int> state;
  C x{&state};
  run_test([&]() -> Coroutine<> {
    auto cm = aclosing(x);
    co_await async_with(cm, [&](Aclosing<C>& y) { EXPECT_EQ(&y.thing(), &x); });
  }());
  EXPECT_EQ(state, std::vector<int>{1});
}

TEST(AsyncContextManager, test_aclosing_error) {
  struct C {
    std::vector<int>* state;
    Coroutine<> aclose() {
      state->push_back(1);
      co_return;
    }
  };
  std::vector<int> state;
  C x{&state};
  EXPECT_THROW(run_test([&]() -> Coroutine<> {
                 auto cm = aclosing(x);
                 co_await async_with(cm, [&](Aclosing<C>& y) {
                   EXPECT_EQ(&y.thing(), &x);
                   throw ZeroDivisionError();
                 });
               }()),
               ZeroDivisionError);
  EXPECT_EQ(state, std::vector<int>{1});
}

TEST(AsyncContextManager, test_aclosing_bpo41229) {
  std::vector<int> state;
  struct SyncResource {
    std::vector<int>& state;
    ~SyncResource() { state.push_back(1); }
  };
  auto agenfunc = [&]() -> AsyncGenerator<int> {
    SyncResource resource{state};
    co_yield -1;
    co_yield -2;
  };
  auto x = agenfunc();
  EXPECT_TRUE(state.empty());
  EXPECT_THROW(run_test([&]() -> Coroutine<> {
                 auto cm = aclosing(x);
                 co_await async_with(cm, [&]() -> Coroutine<> {
                   EXPECT_EQ(co_await x.next(), -1);
                   throw ZeroDivisionError();
                 });
               }()),
               ZeroDivisionError);
  EXPECT_EQ(state, std::vector<int>{1});
  EXPECT_TRUE(x.done());
}
