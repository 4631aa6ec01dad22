// Tests for include/asyncio/taskgroups.hpp (≙ Lib/test/test_asyncio/test_taskgroups.py,
// CPython v3.13.0; catalogue §14 E, entries 152-183), plus a cancellation
// storm over every composition primitive. Virtual time throughout: the
// CPython tests' delays become exact.
#include <asyncio/taskgroups.hpp>  // first: proves the header is self-contained

#include <asyncio/as_completed.hpp>
#include <asyncio/shield.hpp>
#include <asyncio/timeouts.hpp>
#include <asyncio/wait.hpp>

#include "asyncio_test.hpp"

#include <exception>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::raises;
using asyncio_test::run_test;
using asyncio_test::TestLoop;
using asyncio_test::what;

namespace {

// Python's exception types, as C++ types.
struct MyExc : std::runtime_error {
  MyExc() : std::runtime_error("MyExc") {}
};
struct MyBaseExc : asyncio::BaseException {
  MyBaseExc() : asyncio::BaseException("MyBaseExc") {}
};
struct TypeErr : std::logic_error {
  TypeErr() : std::logic_error("TypeError") {}
};
struct CustomException : std::runtime_error {
  CustomException() : std::runtime_error("CustomException") {}
};
[[noreturn]] void zero_division() { throw std::domain_error("division by zero"); }

std::string type_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup&) {
    return "ExceptionGroup";
  } catch (const std::domain_error&) {
    return "ZeroDivisionError";
  } catch (const std::invalid_argument&) {
    return "ValueError";
  } catch (const MyExc&) {
    return "MyExc";
  } catch (const CustomException&) {
    return "CustomException";
  } catch (const TypeErr&) {
    return "TypeError";
  } catch (const RuntimeError&) {
    return "RuntimeError";
  } catch (const MyBaseExc&) {
    return "MyBaseExc";
  } catch (const KeyboardInterrupt&) {
    return "KeyboardInterrupt";
  } catch (const CancelledError&) {
    return "CancelledError";
  } catch (...) {
    return "?";
  }
}

const ExceptionGroup* group_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    return &g;  // the exception object lives as long as `e`
  } catch (...) {
    return nullptr;
  }
}

// ≙ get_error_types(eg).
std::set<std::string> error_types(const std::exception_ptr& e) {
  std::set<std::string> out;
  if (const ExceptionGroup* g = group_of(e))
    for (const auto& x : g->exceptions()) out.insert(type_of(x));
  return out;
}
using Types = std::set<std::string>;

double now() { return get_running_loop().time(); }

Coroutine<int> sleep_ret(double d, int v) {
  co_await asyncio::sleep(d);
  co_return v;
}

Coroutine<> crash_after(double d) {
  co_await asyncio::sleep(d);
  zero_division();
}

Coroutine<> value_error_after(double d) {
  co_await asyncio::sleep(d);
  throw std::invalid_argument(std::to_string(d));
}

// Sleeps; counts a cancellation in *num and re-raises.
Coroutine<> count_cancel(double d, int* num, bool* flag = nullptr) {
  try {
    co_await asyncio::sleep(d);
  } catch (const CancelledError&) {
    ++*num;
    if (flag) *flag = true;
    throw;
  }
}

// Sleeps; raises 1/0 however the sleep ends (a `finally: 1 / 0`).
Coroutine<> zero_division_in_finally(double d) {
  try {
    co_await asyncio::sleep(d);
  } catch (...) {
    zero_division();
  }
  zero_division();
}

}  // namespace

// ---------------------------------------------------------------------------
// 152. test_taskgroup_01

namespace {
Coroutine<> taskgroup_01() {
  Task<int> t1, t2;
  co_await task_group([&](TaskGroup& g) -> Coroutine<> {
    t1 = g.create_task(sleep_ret(0.1, 42));
    t2 = g.create_task(sleep_ret(0.2, 11));
    co_return;
  });
  EXPECT_EQ(t1.result(), 42);
  EXPECT_EQ(t2.result(), 11);
  EXPECT_NEAR(now(), 0.2, 1e-9);
}
}  // namespace

TEST(TaskGroups, Cat152_TaskGroup01) { run_test(taskgroup_01()); }

// ---------------------------------------------------------------------------
// 153. test_taskgroup_02

namespace {
Coroutine<> taskgroup_02() {
  Task<int> t1, t2;
  co_await task_group([&](TaskGroup& g) -> Coroutine<> {
    t1 = g.create_task(sleep_ret(0.1, 42));
    co_await asyncio::sleep(0.15);
    t2 = g.create_task(sleep_ret(0.2, 11));
  });
  EXPECT_EQ(t1.result(), 42);
  EXPECT_EQ(t2.result(), 11);
  EXPECT_NEAR(now(), 0.35, 1e-9);
}
}  // namespace

TEST(TaskGroups, Cat153_TaskGroup02) { run_test(taskgroup_02()); }

// ---------------------------------------------------------------------------
// 154. test_taskgroup_03: a task cancelled explicitly is not an error.

namespace {
Coroutine<> taskgroup_03() {
  Task<int> t1, t2;
  co_await task_group([&](TaskGroup& g) -> Coroutine<> {
    t1 = g.create_task(sleep_ret(1, 42));
    co_await asyncio::sleep(0.15);
    t1.cancel();
    t2 = g.create_task(sleep_ret(0.2, 11));
  });
  EXPECT_TRUE(t1.cancelled());
  EXPECT_EQ(t2.result(), 11);
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(TaskGroups, Cat154_TaskGroup03) { run_test(taskgroup_03()); }

// ---------------------------------------------------------------------------
// 155. test_taskgroup_04

namespace {
struct State04 {
  int num = 0;
  bool t2_cancel = false;
  Task<> t2;
};
Coroutine<> runner_04(State04* s) {
  co_await task_group([s](TaskGroup& g) -> Coroutine<> {
    g.create_task(crash_after(0.1));
    s->t2 = g.create_task([](State04* s) -> Coroutine<> {
      co_await count_cancel(1, &s->num, &s->t2_cancel);
      s->num += 1;
    }(s));
    co_return;
  });
  s->num += 10;
}
Coroutine<> taskgroup_04() {
  State04 s;
  s.num = -1;  // count_cancel adds one on cancellation: back to 0
  auto e = co_await raises(create_task(runner_04(&s)));
  EXPECT_EQ(error_types(e), Types{"ZeroDivisionError"});
  EXPECT_EQ(s.num, 0);
  EXPECT_TRUE(s.t2_cancel);
  EXPECT_TRUE(s.t2.cancelled());
}
}  // namespace

TEST(TaskGroups, Cat155_TaskGroup04) { run_test(taskgroup_04()); }

// ---------------------------------------------------------------------------
// 156. test_cancel_children_on_child_error: the body's await is cancelled too.

namespace {
Coroutine<> runner_156(int* num, bool* t2_cancel, bool* runner_cancel) {
  co_await task_group([=](TaskGroup& g) -> Coroutine<> {
    g.create_task(crash_after(0.1));
    g.create_task(crash_after(0.1));
    g.create_task(crash_after(0.1));
    int ignored = 0;
    g.create_task(count_cancel(5, &ignored, t2_cancel));
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError&) {
      *runner_cancel = true;
      throw;
    }
  });
  *num += 10;
}
Coroutine<> cancel_children_on_child_error() {
  int num = 0;
  bool t2_cancel = false, runner_cancel = false;
  auto e = co_await raises(create_task(runner_156(&num, &t2_cancel, &runner_cancel)));
  EXPECT_EQ(error_types(e), Types{"ZeroDivisionError"});
  EXPECT_EQ(group_of(e)->exceptions().size(), 3u);  // the three failed in the same pass
  EXPECT_EQ(num, 0);
  EXPECT_TRUE(t2_cancel);
  EXPECT_TRUE(runner_cancel);
}
}  // namespace

TEST(TaskGroups, Cat156_CancelChildrenOnChildError) { run_test(cancel_children_on_child_error()); }

// ---------------------------------------------------------------------------
// 157. test_cancellation: external cancel; the message goes through.

namespace {
Coroutine<> runner_157(int* num) {
  co_await task_group([=](TaskGroup& g) -> Coroutine<> {
    for (int i = 0; i < 5; ++i) g.create_task(count_cancel(5, num));
    co_return;
  });
}
Coroutine<> cancellation() {
  int num = 0;
  Task<> r = create_task(runner_157(&num));
  co_await asyncio::sleep(0.1);
  EXPECT_FALSE(r.done());
  r.cancel("test");
  auto e = co_await raises(r);
  EXPECT_EXC(e, CancelledError, "test");
  EXPECT_EQ(num, 5);
  EXPECT_TRUE(r.cancelled());
}
}  // namespace

TEST(TaskGroups, Cat157_Cancellation) { run_test(cancellation()); }

// ---------------------------------------------------------------------------
// 158. test_taskgroup_07

namespace {
Coroutine<> runner_158(int* num) {
  co_await task_group([=](TaskGroup& g) -> Coroutine<> {
    for (int i = 0; i < 5; ++i) g.create_task(count_cancel(5, num));
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError&) {
      *num += 10;
      throw;
    }
  });
}
Coroutine<> taskgroup_07() {
  int num = 0;
  Task<> r = create_task(runner_158(&num));
  co_await asyncio::sleep(0.1);
  EXPECT_FALSE(r.done());
  r.cancel();
  auto e = co_await raises(r);
  EXPECT_TRUE(holds<CancelledError>(e));
  EXPECT_EQ(num, 15);
}
}  // namespace

TEST(TaskGroups, Cat158_TaskGroup07) { run_test(taskgroup_07()); }

// ---------------------------------------------------------------------------
// test_cancellation_in_body: the cancel arrives before the children fail
// (the CPython test's real clock runs the 0.1 s sleep of the test first;
// here the test sleeps 0.09 s for the same order).

namespace {
Coroutine<> runner_in_body() {
  co_await task_group([](TaskGroup& g) -> Coroutine<> {
    for (int i = 0; i < 5; ++i) g.create_task(crash_after(0.1));
    co_await asyncio::sleep(10);
  });
}
Coroutine<> cancellation_in_body() {
  Task<> r = create_task(runner_in_body());
  co_await asyncio::sleep(0.09);
  EXPECT_FALSE(r.done());
  r.cancel("test");
  auto e = co_await raises(r);
  EXPECT_EXC(e, CancelledError, "test");
}
}  // namespace

TEST(TaskGroups, CancellationInBody) { run_test(cancellation_in_body()); }

// ---------------------------------------------------------------------------
// 159. test_taskgroup_08: external cancel while every child raises 1/0 in
// `finally`: the errors win over the CancelledError.

namespace {
Coroutine<> runner_159() {
  co_await task_group([](TaskGroup& g) -> Coroutine<> {
    for (int i = 0; i < 5; ++i) g.create_task(zero_division_in_finally(10));
    co_await asyncio::sleep(10);
  });
}
Coroutine<> taskgroup_08() {
  Task<> r = create_task(runner_159());
  co_await asyncio::sleep(0.1);
  EXPECT_FALSE(r.done());
  r.cancel();
  auto e = co_await raises(r);
  EXPECT_EQ(error_types(e), Types{"ZeroDivisionError"});
  EXPECT_FALSE(r.cancelled());
}
}  // namespace

TEST(TaskGroups, Cat159_TaskGroup08) { run_test(taskgroup_08()); }

// ---------------------------------------------------------------------------
// test_taskgroup_09 and _10: the body raises; the tasks are cancelled.

namespace {
Coroutine<> runner_09(Task<int>* t1, Task<int>* t2, bool sleep_first) {
  co_await task_group([=](TaskGroup& g) -> Coroutine<> {
    *t1 = g.create_task(sleep_ret(1, 42));
    *t2 = g.create_task(sleep_ret(2, 11));
    if (sleep_first) co_await asyncio::sleep(0.1);
    zero_division();
  });
}
Coroutine<> taskgroup_09_10() {
  for (bool sleep_first : {true, false}) {
    Task<int> t1, t2;
    auto e = co_await raises(runner_09(&t1, &t2, sleep_first));
    EXPECT_EQ(error_types(e), Types{"ZeroDivisionError"});
    EXPECT_TRUE(t1.cancelled());
    EXPECT_TRUE(t2.cancelled());
  }
}
}  // namespace

TEST(TaskGroups, TaskGroup09And10) { run_test(taskgroup_09_10()); }

// ---------------------------------------------------------------------------
// 162. test_taskgroup_11 (+ _12): nested groups; the inner group's errors
// arrive in the outer group as one ExceptionGroup.

namespace {
Coroutine<> runner_162(bool outer_task) {
  co_await task_group([=](TaskGroup& g1) -> Coroutine<> {
    if (outer_task) g1.create_task(asyncio::sleep(10));
    co_await task_group([](TaskGroup& g2) -> Coroutine<> {
      for (int i = 0; i < 5; ++i) g2.create_task(zero_division_in_finally(10));
      co_await asyncio::sleep(10);
    });
  });
}
Coroutine<> taskgroup_11_12() {
  for (bool outer_task : {false, true}) {
    Task<> r = create_task(runner_162(outer_task));
    co_await asyncio::sleep(0.1);
    EXPECT_FALSE(r.done());
    r.cancel();
    auto e = co_await raises(r);
    EXPECT_EQ(error_types(e), Types{"ExceptionGroup"});
    const ExceptionGroup* g = group_of(e);
    EXPECT_TRUE(g && g->exceptions().size() == 1);
    if (g && !g->exceptions().empty()) {
      EXPECT_EQ(error_types(g->exceptions()[0]), Types{"ZeroDivisionError"});
    }
  }
}
}  // namespace

TEST(TaskGroups, Cat162_TaskGroup11And12) { run_test(taskgroup_11_12()); }

// ---------------------------------------------------------------------------
// 163. test_taskgroup_13 and 164. test_taskgroup_14

namespace {
Coroutine<> runner_nested(double outer_delay, double inner_delay) {
  co_await task_group([=](TaskGroup& g1) -> Coroutine<> {
    g1.create_task(value_error_after(outer_delay));
    co_await task_group([=](TaskGroup& g2) -> Coroutine<> {
      g2.create_task(value_error_after(inner_delay));
      co_return;
    });
  });
}
Coroutine<> taskgroup_13() {
  auto e = co_await raises(create_task(runner_nested(0.1, 10)));
  EXPECT_EQ(error_types(e), Types{"ValueError"});
}
Coroutine<> taskgroup_14() {
  auto e = co_await raises(create_task(runner_nested(10, 0.1)));
  EXPECT_EQ(error_types(e), Types{"ExceptionGroup"});
  const ExceptionGroup* g = group_of(e);
  if (g) {
    EXPECT_EQ(error_types(g->exceptions().at(0)), Types{"ValueError"});
  }
}
}  // namespace

TEST(TaskGroups, Cat163_TaskGroup13) { run_test(taskgroup_13()); }
TEST(TaskGroups, Cat164_TaskGroup14) { run_test(taskgroup_14()); }

// ---------------------------------------------------------------------------
// 165. test_taskgroup_15 (+ _16, the body inside a nested task)

namespace {
Coroutine<> runner_15() {
  co_await task_group([](TaskGroup& g1) -> Coroutine<> {
    g1.create_task(crash_after(0.3));
    bool cancelled = false;
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      co_await asyncio::sleep(0.5);  // cancelled by the group at 0.3
      throw CancelledError();
    }
  });
}
Coroutine<> runner_16() {
  Task<> t = create_task(runner_15());
  co_await t;
}
Coroutine<> taskgroup_15_16() {
  for (int which : {15, 16}) {
    Task<> r = create_task(which == 15 ? runner_15() : runner_16());
    co_await asyncio::sleep(0.1);
    EXPECT_FALSE(r.done());
    r.cancel();
    auto e = co_await raises(r);
    EXPECT_EQ(error_types(e), Types{"ZeroDivisionError"}) << which;
  }
}
}  // namespace

TEST(TaskGroups, Cat165_TaskGroup15And16) { run_test(taskgroup_15_16()); }

// ---------------------------------------------------------------------------
// 166. test_taskgroup_17 and 167. test_taskgroup_18

namespace {
Coroutine<> runner_17(int* num, bool to_my_exc) {
  co_await task_group([=]() -> Coroutine<> {
    try {
      co_await asyncio::sleep(10);
    } catch (const CancelledError&) {
      *num += 10;
      if (to_my_exc) throw MyExc();  // "This isn't a good idea, but we have to support this weird case."
      throw;
    }
  });
}
Coroutine<> taskgroup_17_18(bool to_my_exc) {
  {
    int num = 0;
    Task<> r = create_task(runner_17(&num, to_my_exc));
    co_await asyncio::sleep(0.1);
    EXPECT_FALSE(r.done());
    r.cancel();
    auto e = co_await raises(r);
    if (to_my_exc)
      EXPECT_EQ(error_types(e), Types{"MyExc"});
    else
      EXPECT_TRUE(holds<CancelledError>(e));
    EXPECT_EQ(num, 10);
  }
}
}  // namespace

TEST(TaskGroups, Cat166_TaskGroup17) { run_test(taskgroup_17_18(false)); }
TEST(TaskGroups, Cat167_TaskGroup18) { run_test(taskgroup_17_18(true)); }

// ---------------------------------------------------------------------------
// test_taskgroup_19, 169. test_taskgroup_20, 170. test_taskgroup_20a (+ _21a)

namespace {
template <class E>
E make_exc() {
  if constexpr (std::is_default_constructible_v<E>)
    return E();
  else
    return E("");
}
template <class E>
Coroutine<> raise_in_finally(double d) {
  try {
    co_await asyncio::sleep(d);
  } catch (...) {
    throw make_exc<E>();
  }
  throw make_exc<E>();
}
template <class E>
Coroutine<> raise_after(double d) {
  co_await asyncio::sleep(d);
  throw make_exc<E>();
}
// ChildE void: the task raises 1/0.
template <class ChildE, class NestedE>
Coroutine<> runner_19() {
  co_await task_group([](TaskGroup& g) -> Coroutine<> {
    if constexpr (std::is_void_v<ChildE>)
      g.create_task(crash_after(0.1));
    else
      g.create_task(raise_after<ChildE>(0.1));
    co_await raise_in_finally<NestedE>(10);
  });
}
// Each case in a task of its own, as each CPython test method is: a group
// that ends with a KeyboardInterrupt leaves its task's cancel count raised
// (3.13 raises it before the uncancel()).
Coroutine<> taskgroup_19_20a() {
  // test_taskgroup_19
  auto e = co_await raises(create_task(runner_19<void, MyExc>()));
  EXPECT_EQ(error_types(e), (Types{"MyExc", "ZeroDivisionError"}));
  // 170: another BaseException is grouped (Python's BaseExceptionGroup).
  e = co_await raises(create_task(runner_19<void, MyBaseExc>()));
  EXPECT_EQ(error_types(e), (Types{"MyBaseExc", "ZeroDivisionError"}));
  // test_taskgroup_21a
  e = co_await raises(create_task(runner_19<MyBaseExc, TypeErr>()));
  EXPECT_EQ(error_types(e), (Types{"MyBaseExc", "TypeError"}));
}
// 169: KeyboardInterrupt from the block is raised bare, not grouped.
Coroutine<> taskgroup_20() {
  auto e = co_await raises(runner_19<void, KeyboardInterrupt>());
  EXPECT_TRUE(holds<KeyboardInterrupt>(e));
  EXPECT_EQ(group_of(e), nullptr);
  EXPECT_EQ(current_task().cancelling(), 1);
  current_task().uncancel();
}
}  // namespace

TEST(TaskGroups, Cat169_TaskGroup20_KeyboardInterruptBare) { run_test(taskgroup_20()); }
TEST(TaskGroups, Cat170_TaskGroup20a_BaseExceptionGrouped) { run_test(taskgroup_19_20a()); }

// A KeyboardInterrupt raised by a task of the group escapes the loop at once
// (spec S10); when the loop runs again, the group re-raises it bare.

namespace {
Coroutine<> ki_runner(std::vector<std::string>* log) {
  auto e = co_await raises(task_group([](TaskGroup& g) -> Coroutine<> {
    g.create_task(raise_after<KeyboardInterrupt>(0.1));
    g.create_task(crash_after(0.1));
    co_await asyncio::sleep(10);
  }));
  log->push_back(holds<KeyboardInterrupt>(e) ? "KeyboardInterrupt" : "other");
}
}  // namespace

TEST(TaskGroups, ChildKeyboardInterrupt) {
  TestLoop t;
  std::vector<std::string> log;
  Task<> main = t.loop.create_task(ki_runner(&log));
  EXPECT_THROW(t.loop.run_until_complete(main), KeyboardInterrupt);
  EXPECT_TRUE(log.empty());
  t.loop.run_until_complete(main);
  EXPECT_EQ(log, std::vector<std::string>{"KeyboardInterrupt"});
  // The other task's error was dropped with the group's errors (3.13).
  EXPECT_TRUE(t.log.calls.empty());
}

// ---------------------------------------------------------------------------
// test_taskgroup_22

namespace {
Coroutine<> runner_22() {
  co_await task_group([](TaskGroup& g) -> Coroutine<> {
    g.create_task(sleep_ret(1, 42));
    g.create_task(sleep_ret(2, 11));
    co_return;
  });
}
Coroutine<> taskgroup_22() {
  Task<> r = create_task(runner_22());
  co_await asyncio::sleep(0.05);
  r.cancel();
  auto e = co_await raises(r);
  EXPECT_TRUE(holds<CancelledError>(e));
}
}  // namespace

TEST(TaskGroups, TaskGroup22) { run_test(taskgroup_22()); }

// ---------------------------------------------------------------------------
// test_taskgroup_23: len(g._tasks), read through the repr.

namespace {
Coroutine<> taskgroup_23() {
  co_await task_group([](TaskGroup& g) -> Coroutine<> {
    for (int count = 0; count < 10; ++count) {
      co_await asyncio::sleep(0.1);
      g.create_task(asyncio::sleep(0.3));
      if (count == 5) {
        // len(g._tasks) < 5: 3 or 4, as the task due now is done or not yet.
        EXPECT_TRUE(g.repr() == "<TaskGroup tasks=3 entered>" || g.repr() == "<TaskGroup tasks=4 entered>")
            << g.repr();
      }
    }
    co_await asyncio::sleep(1.35);
    EXPECT_EQ(g.repr(), "<TaskGroup entered>");
  });
}
}  // namespace

TEST(TaskGroups, TaskGroup23) { run_test(taskgroup_23()); }

// ---------------------------------------------------------------------------
// 172. test_taskgroup_24: a task adds tasks while the group waits.

namespace {
Coroutine<> root(TaskGroup* g, int* done) {
  co_await asyncio::sleep(0.1);
  g->create_task([](int* done) -> Coroutine<> {
    co_await asyncio::sleep(0.1);
    ++*done;
  }(done));
  g->create_task([](int* done) -> Coroutine<> {
    co_await asyncio::sleep(0.2);
    ++*done;
  }(done));
}
Coroutine<> taskgroup_24() {
  int done = 0;
  co_await task_group([&](TaskGroup& g) -> Coroutine<> {
    g.create_task(root(&g, &done));
    co_return;
  });
  EXPECT_EQ(done, 2);
  EXPECT_NEAR(now(), 0.3, 1e-9);
}
}  // namespace

TEST(TaskGroups, Cat172_TaskGroup24) { run_test(taskgroup_24()); }

// ---------------------------------------------------------------------------
// 173. test_taskgroup_25: hydras and hercules.

namespace {
Coroutine<> hydra(TaskGroup* g, int* nhydras) {
  ++*nhydras;
  co_await asyncio::sleep(0.01);
  // Never true here (hercules stops them first); it keeps clang's
  // -Winfinite-recursion quiet about a coroutine that only creates itself.
  if (*nhydras > 100000) co_return;
  g->create_task(hydra(g, nhydras));
  g->create_task(hydra(g, nhydras));
}
Coroutine<> hercules(int* nhydras) {
  while (*nhydras < 10) co_await asyncio::sleep(0.015);
  zero_division();
}
Coroutine<> taskgroup_25() {
  int nhydras = 0;
  auto e = co_await raises(task_group([&](TaskGroup& g) -> Coroutine<> {
    g.create_task(hydra(&g, &nhydras));
    g.create_task(hercules(&nhydras));
    co_return;
  }));
  EXPECT_EQ(error_types(e), Types{"ZeroDivisionError"});
  EXPECT_GE(nhydras, 10);
}
}  // namespace

TEST(TaskGroups, Cat173_TaskGroup25) { run_test(taskgroup_25()); }

// ---------------------------------------------------------------------------
// 174. test_taskgroup_task_name

namespace {
Coroutine<> task_name() {
  co_await task_group([](TaskGroup& g) -> Coroutine<> {
    Task<> t = g.create_task(asyncio::sleep(0), "yolo");
    EXPECT_EQ(t.get_name(), "yolo");
    co_return;
  });
}
}  // namespace

TEST(TaskGroups, Cat174_TaskGroupTaskName) { run_test(task_name()); }

// ---------------------------------------------------------------------------
// 175. test_taskgroup_no_create_task_after_failure

namespace {
struct Tracker {
  bool* destroyed;
  ~Tracker() { *destroyed = true; }
};
Coroutine<> tracked(Tracker, bool* ran) {
  *ran = true;
  co_return;
}
Coroutine<> coro2(TaskGroup* g, std::exception_ptr* refused, bool* ran, bool* destroyed) {
  try {
    co_await asyncio::sleep(1);
  } catch (const CancelledError&) {
    *refused = asyncio_test::capture([&] { g->create_task(tracked(Tracker{destroyed}, ran)); });
  }
}
Coroutine<> no_create_task_after_failure() {
  std::exception_ptr refused;
  bool ran = false, destroyed = false;
  auto e = co_await raises(task_group([&](TaskGroup& g) -> Coroutine<> {
    g.create_task(crash_after(0.001));
    g.create_task(coro2(&g, &refused, &ran, &destroyed));
    co_return;
  }));
  EXPECT_EQ(error_types(e), Types{"ZeroDivisionError"});
  EXPECT_TRUE(holds<RuntimeError>(refused));
  EXPECT_EQ(what(refused), "TaskGroup <TaskGroup tasks=1 errors=1 cancelling> is shutting down");
  EXPECT_FALSE(ran);
  EXPECT_TRUE(destroyed);  // the refused coroutine was closed
}
}  // namespace

TEST(TaskGroups, Cat175_NoCreateTaskAfterFailure) { run_test(no_create_task_after_failure()); }

// ---------------------------------------------------------------------------
// 176. test_taskgroup_context_manager_exit_raises: an async context manager
// in the block whose exit raises, and a task raising the same type.

namespace {
Coroutine<> raise_custom() {
  throw CustomException();
  co_return;
}
Coroutine<> context_manager_exit_raises_main() {
  auto e = co_await raises(task_group([](TaskGroup& tg) -> Coroutine<> {
    // async with database(): ... (its exit raises CustomException)
    try {
      tg.create_task(raise_custom());
      co_await asyncio::sleep(1);
    } catch (...) {
    }
    throw CustomException();
  }));
  EXPECT_EQ(error_types(e), Types{"CustomException"});
  const ExceptionGroup* g = group_of(e);
  EXPECT_TRUE(g && g->exceptions().size() == 2);
  EXPECT_EQ(current_task().cancelling(), 0);
}
Coroutine<> context_manager_exit_raises() { co_await create_task(context_manager_exit_raises_main()); }
}  // namespace

TEST(TaskGroups, Cat176_ContextManagerExitRaises) { run_test(context_manager_exit_raises()); }

// ---------------------------------------------------------------------------
// 177. test_taskgroup_already_entered (+ test_taskgroup_double_enter)

namespace {
Coroutine<> already_entered() {
  TaskGroup tg;
  std::exception_ptr inner;
  co_await async_with(tg, [&]() -> Coroutine<> {
    inner = co_await raises(async_with(tg, []() -> Coroutine<> { co_return; }));
  });
  EXPECT_EXC(inner, RuntimeError, "TaskGroup <TaskGroup entered> has already been entered");

  TaskGroup twice;
  co_await async_with(twice, []() -> Coroutine<> { co_return; });
  auto e = co_await raises(async_with(twice, []() -> Coroutine<> { co_return; }));
  EXPECT_EXC(e, RuntimeError, "TaskGroup <TaskGroup entered> has already been entered");
}
}  // namespace

TEST(TaskGroups, Cat177_TaskGroupAlreadyEntered) { run_test(already_entered()); }

// ---------------------------------------------------------------------------
// 178. test_taskgroup_finished (+ test_coro_closed_when_tg_closed)

namespace {
Coroutine<> finished() {
  TaskGroup tg;
  co_await async_with(tg, [](TaskGroup&) -> Coroutine<> { co_return; });
  bool ran = false, destroyed = false;
  EXPECT_THROW_MSG(tg.create_task(tracked(Tracker{&destroyed}, &ran)), RuntimeError,
                   "TaskGroup <TaskGroup entered> is finished");
  EXPECT_FALSE(ran);
  EXPECT_TRUE(destroyed);
}
}  // namespace

TEST(TaskGroups, Cat178_TaskGroupFinished) { run_test(finished()); }

// ---------------------------------------------------------------------------
// test_taskgroup_not_entered, and 180. test_taskgroup_without_parent_task:
// only the create_task() half is expressible (a C++ coroutine always runs
// in a task, so `__aenter__` cannot be driven outside one).

TEST(TaskGroups, Cat180_TaskGroupNotEntered) {
  TaskGroup tg;
  bool ran = false, destroyed = false;
  EXPECT_THROW_MSG(tg.create_task(tracked(Tracker{&destroyed}, &ran)), RuntimeError,
                   "TaskGroup <TaskGroup> has not been entered");
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(ran);
  EXPECT_EQ(tg.repr(), "<TaskGroup>");
}

// ---------------------------------------------------------------------------
// 181. test_cancelling_level_preserved (3.13)

namespace {
Coroutine<> cancelling_level_preserved() {
  auto e = co_await raises(task_group([](TaskGroup& tg) -> Coroutine<> {
    tg.create_task(raise_after<RuntimeError>(0.0));
    co_return;
  }));
  EXPECT_EQ(error_types(e), Types{"RuntimeError"});
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(TaskGroups, Cat181_CancellingLevelPreserved) { run_test(cancelling_level_preserved()); }

namespace {
// The same with the test's own `except* RuntimeError` (asyncio::except_star).
Coroutine<> cancelling_level_preserved_except_star() {
  std::size_t handled = 0;
  try {
    co_await task_group([](TaskGroup& tg) -> Coroutine<> {
      tg.create_task(raise_after<RuntimeError>(0.0));
      co_return;
    });
  } catch (...) {
    except_star(std::current_exception(),
                catching<RuntimeError>([&](const ExceptionGroup& eg) { handled = eg.exceptions().size(); }));
  }
  EXPECT_EQ(handled, 1u);
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(TaskGroups, Cat181_CancellingLevelPreservedExceptStar) { run_test(cancelling_level_preserved_except_star()); }

// ---------------------------------------------------------------------------
// test_nested_groups_both_cancelled (3.13)

namespace {
Coroutine<> nested_groups_both_cancelled() {
  int level_between = -1;
  auto e = co_await raises(task_group([&](TaskGroup& outer_tg) -> Coroutine<> {
    auto inner = co_await raises(task_group([&](TaskGroup& inner_tg) -> Coroutine<> {
      inner_tg.create_task(raise_after<RuntimeError>(0));
      outer_tg.create_task(raise_after<std::invalid_argument>(0));
      co_return;
    }));
    EXPECT_EQ(error_types(inner), Types{"RuntimeError"});
    level_between = current_task().cancelling();
  }));
  EXPECT_EQ(error_types(e), Types{"ValueError"});
  EXPECT_EQ(level_between, 1);
  EXPECT_EQ(current_task().cancelling(), 0);
}
}  // namespace

TEST(TaskGroups, NestedGroupsBothCancelled) { run_test(nested_groups_both_cancelled()); }

// ---------------------------------------------------------------------------
// 183. test_error_and_cancel (3.13): errors and an external cancel; the
// cancellation stays pending for the next await.

namespace {
Coroutine<> raise_error(Future<> event) {
  event.set_result();  // event.set()
  co_await asyncio::sleep(0);
  throw RuntimeError("");
}
Coroutine<> inner_183(Future<> event, int* in_handler, int* after_block, bool* reached) {
  auto e = co_await raises(task_group([&](TaskGroup& tg) -> Coroutine<> {
    tg.create_task(raise_error(event));
    co_await asyncio::sleep(1);
    ADD_FAILURE() << "Sleep in group should have been cancelled";
  }));
  EXPECT_EQ(error_types(e), Types{"RuntimeError"});
  *in_handler = current_task().cancelling();
  *after_block = current_task().cancelling();
  co_await asyncio::sleep(1);
  *reached = true;
}
Coroutine<> error_and_cancel() {
  Future<> event = get_running_loop().create_future();
  int in_handler = -1, after_block = -1;
  bool reached = false;
  Task<> t = create_task(inner_183(event, &in_handler, &after_block, &reached));
  co_await event;  // event.wait()
  EXPECT_EQ(t.cancelling(), 0);
  t.cancel();
  EXPECT_EQ(t.cancelling(), 1);
  auto e = co_await raises(t);
  EXPECT_TRUE(holds<CancelledError>(e));
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(in_handler, 1);
  EXPECT_EQ(after_block, 1);
  EXPECT_FALSE(reached);
}
}  // namespace

TEST(TaskGroups, Cat183_ErrorAndCancel) { run_test(error_and_cancel()); }

// ---------------------------------------------------------------------------
// The block's value goes through; many tasks; a task failing eagerly.

namespace {
Coroutine<long long> many_children(int n) {
  std::vector<Task<int>> tasks;
  tasks.reserve(n);
  long long sum = co_await task_group([&](TaskGroup& g) -> Coroutine<long long> {
    for (int i = 0; i < n; ++i) tasks.push_back(g.create_task(sleep_ret(0, i)));
    co_return -1;
  });
  for (auto& t : tasks) sum += t.result();
  co_return sum + 1;
}
}  // namespace

TEST(TaskGroups, ManyChildrenAndBodyValue) {
  EXPECT_EQ(run_test(many_children(10000)), 10000LL * 9999 / 2);
}

namespace {
Coroutine<int> fail_at_once() {
  throw std::invalid_argument("eager");
  co_return 0;
}
Coroutine<> eager_failure() {
  get_running_loop().set_task_factory(eager_task_factory);
  bool body_went_on = false;
  auto e = co_await raises(task_group([&](TaskGroup& g) -> Coroutine<> {
    Task<int> t = g.create_task(fail_at_once());
    EXPECT_TRUE(t.done());  // it ran inside create_task
    body_went_on = true;    // not cancelled before create_task returned (gh-128550)
    co_await asyncio::sleep(1);
  }));
  get_running_loop().set_task_factory(TaskFactory{});
  EXPECT_TRUE(body_went_on);
  EXPECT_EQ(error_types(e), Types{"ValueError"});
  EXPECT_EQ(current_task().cancelling(), 0);
  EXPECT_NEAR(now(), 0.0, 1e-9);
}
}  // namespace

TEST(TaskGroups, EagerTaskFailsInsideCreateTask) { run_test(eager_failure()); }

// The group's task left pending when its loop closes: the group lets go of
// its tasks, nothing leaks (ASan).
namespace {
Coroutine<> group_hangs(Future<> never) {
  co_await task_group([&](TaskGroup& g) -> Coroutine<> {
    g.create_task([](Future<> f) -> Coroutine<> { co_await f; }(never));
    co_await never;
  });
}
}  // namespace

TEST(TaskGroups, PendingAtLoopClose) {
  TestLoop t;
  Future<> never = t.loop.create_future();
  Task<> task = t.loop.create_task(group_hangs(never));
  t.run_briefly();
  t.run_briefly();
  EXPECT_FALSE(task.done());
  t.loop.close();
  EXPECT_EQ(t.log.messages(), (std::vector<std::string>{"Task was destroyed but it is pending!",
                                                        "Task was destroyed but it is pending!"}));
}

// ---------------------------------------------------------------------------
// Cancellation storm: a workload using every primitive of this issue is cut
// by cancelling every task of the loop at each of its loop passes in turn.
// Each run must end with no task pending, nothing leaked (ASan), and every
// failure nobody looked at reported ("never retrieved"), none twice.

namespace {
Coroutine<int> leaf_work(int i, double d) {
  co_await asyncio::sleep(d);
  if (i % 5 == 4) throw std::invalid_argument("leaf " + std::to_string(i));
  co_return i;
}
Coroutine<int> slow_then_value(double d, int v) {
  co_await asyncio::sleep(d);
  co_return v;
}
// Every task that may fail, and those whose failure was looked at.
struct Ledger {
  std::vector<Task<int>> tasks;
  std::set<const void*> observed;
};
Coroutine<int> storm_worker(int id, Ledger* ledger) {
  int acc = 0;
  // timeout(): sometimes expires, sometimes not.
  try {
    acc += co_await asyncio::timeout(0.05 * (id % 3), [=]() -> Coroutine<int> {
      co_await asyncio::sleep(0.06);
      co_return 1;
    });
  } catch (const TimeoutError&) {
  }
  // wait_for() on a coroutine and on a task.
  try {
    acc += co_await wait_for(slow_then_value(0.02 * id, 2), 0.05);
  } catch (const TimeoutError&) {
  }
  Task<int> side = create_task(slow_then_value(0.03, 3));
  try {
    acc += co_await wait_for(side, 0.1);
  } catch (const TimeoutError&) {
  }
  // shield(): the shielded task goes on if this one is cancelled.
  acc += co_await shield(create_task(slow_then_value(0.01, 4)));
  // wait() with FIRST_COMPLETED: the loser is left running, unobserved
  // (worker 3's loser fails).
  std::vector<Task<int>> racers{create_task(leaf_work(id, 0.01)), create_task(leaf_work(id + 1, 0.2))};
  for (auto& t : racers) ledger->tasks.push_back(t);
  auto [done, pending] = co_await asyncio::wait(racers, FIRST_COMPLETED);
  for (auto& t : done) {
    ledger->observed.insert(t.native());
    if (!t.cancelled() && !t.exception()) acc += t.result();
  }
  // as_completed()
  std::vector<Coroutine<int>> coros;
  coros.push_back(slow_then_value(0.02, 5));
  coros.push_back(slow_then_value(0.01, 6));
  for (auto next : as_completed(std::move(coros), 1.0)) acc += co_await next;
  co_return acc;
}
Coroutine<int> storm_main(Ledger* ledger) {
  int total = 0;
  std::vector<Task<int>> tasks;
  try {
    co_await task_group([&](TaskGroup& g) -> Coroutine<> {
      for (int i = 0; i < 4; ++i) tasks.push_back(g.create_task(storm_worker(i, ledger)));
      co_await asyncio::sleep(0.01);
      g.create_task(leaf_work(9, 0.5));  // fails once the workers are done: aborts the group
      co_await asyncio::sleep(1);
    });
  } catch (const ExceptionGroup&) {
    total += 1000;
  }
  for (auto& t : tasks)
    if (t.done() && !t.cancelled() && !t.exception()) total += t.result();
  co_return total;
}

struct StormResult {
  bool cut = false;  // the cancellation happened before the workload ended
  std::size_t reports = 0;
  std::size_t expected_reports = 0;
  std::size_t left_pending = 0;
  std::vector<std::string> other_messages;
};

Coroutine<> drain() {
  while (all_tasks().size() > 1) co_await asyncio::sleep(0.01);
}

// Runs storm_main; at loop time `at` (never if negative), after `passes`
// more loop passes, cancels every task of the loop.
StormResult run_storm(double at, int passes) {
  StormResult r;
  {
    TestLoop t;
    Ledger ledger;
    Task<int> main = t.loop.create_task(storm_main(&ledger));
    std::function<void()> step = [&] {
      if (main.done()) return;  // too late: the workload ended
      if (passes-- > 0) {
        t.loop.call_soon(step);
        return;
      }
      r.cut = true;
      for (TaskRef& task : all_tasks(t.loop)) task.cancel();
    };
    if (at >= 0) t.loop.call_at(at, step);
    try {
      t.loop.run_until_complete(main);
    } catch (const CancelledError&) {
      EXPECT_TRUE(r.cut);
    } catch (...) {
      ADD_FAILURE() << "at " << at << " + " << passes << ": " << describe(std::current_exception());
    }
    // Let everything still running finish (shielded tasks, wait() losers).
    t.loop.run_until_complete(drain());
    r.left_pending = all_tasks(t.loop).size();
    // A failure nobody looked at is reported when its task goes away.
    for (auto& task : ledger.tasks)
      if (!task.cancelled() && task.state()->stored_exception() && !ledger.observed.count(task.native()))
        ++r.expected_reports;
    ledger.tasks.clear();
    t.loop.close();
    for (const auto& c : t.log.calls) {
      if (c.message == "Task exception was never retrieved")
        ++r.reports;
      else
        r.other_messages.push_back(c.message);
    }
  }
  return r;
}
}  // namespace

TEST(TaskGroups, CancellationStorm) {
  const StormResult full = run_storm(-1, 0);
  EXPECT_EQ(full.left_pending, 0u);
  EXPECT_TRUE(full.other_messages.empty());
  EXPECT_EQ(full.reports, full.expected_reports);
  EXPECT_EQ(full.expected_reports, 1u);  // worker 3's wait() loser
  // Every delay of the workload is a multiple of 10 ms and it ends by 0.51 s:
  // cutting at each 10 ms instant, after 0 to 7 passes there, reaches each
  // of its suspension points.
  int cuts = 0;
  for (int ms = 0; ms <= 520; ms += 10) {
    for (int passes = 0; passes <= 7; ++passes) {
      const StormResult r = run_storm(ms / 1000.0, passes);
      cuts += r.cut;
      EXPECT_EQ(r.left_pending, 0u) << ms << " ms + " << passes;
      EXPECT_TRUE(r.other_messages.empty()) << ms << " ms + " << passes << ": " << r.other_messages.front();
      EXPECT_EQ(r.reports, r.expected_reports) << ms << " ms + " << passes;
    }
  }
  EXPECT_GT(cuts, 300);
}
