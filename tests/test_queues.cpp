// Tests for include/asyncio/queues.hpp (spec §8; catalogue §14 H, area 8),
// ported from CPython v3.13.0 Lib/test/test_asyncio/test_queues.py, plus the
// rest of that file's behavioural tests (unnumbered), move-only items, the
// misuses of spec §0.2, and a producer/consumer stress test.
//
// CPython's tests read `queue._getters` / `_putters`; SyncTestAccess gives
// the same counts. TaskGroup blocks without failures are gathers. A co_await
// result is stored in a local before it is tested (GCC 12.2 can skip the
// body of a coroutine with an `if (co_await ...)`).
#include <asyncio/queues.hpp>

#include "asyncio_test.hpp"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asyncio::detail {
struct SyncTestAccess {
  static std::size_t getters(const QueueBase& q) { return q.getters_.size(); }
  static std::size_t putters(const QueueBase& q) { return q.putters_.size(); }
};
}  // namespace asyncio::detail

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::run_test;
using asyncio_test::TestLoop;
using Access = asyncio::detail::SyncTestAccess;
using Ints = std::vector<int>;

namespace {

/// `with self.assertRaises(E): await aw`
template <class E, class Awaitable>
Coroutine<> expect_raises(Awaitable aw) {
  try {
    co_await aw;
    ADD_FAILURE() << "nothing thrown";
  } catch (const E&) {
  } catch (...) {
    ADD_FAILURE() << "another exception";
  }
}

template <class Q>
Coroutine<Ints> get_n(Q* q, int n) {
  Ints items;
  for (int i = 0; i < n; ++i) {
    const int item = co_await q->get();
    items.push_back(item);
  }
  co_return items;
}

template <class Q>
Coroutine<> put_all(Q* q, Ints items) {
  for (int i : items) co_await q->put(i);
}

/// test_order of Queue, LifoQueue, PriorityQueue: put 1, 3, 2, get three.
template <class Q>
Ints put_then_get_order() {
  Q q;
  return run_test([](Q& q) -> Coroutine<Ints> {
    Ints in{1, 3, 2};
    co_await put_all(&q, in);
    co_return co_await get_n(&q, 3);
  }(q));
}

}  // namespace

// ================================================================ basics

// 253. test_empty
TEST(Queue, Cat253_Empty) {
  run_test([]() -> Coroutine<> {
    Queue<int> q;
    EXPECT_TRUE(q.empty());
    co_await q.put(1);
    EXPECT_FALSE(q.empty());
    const int item = co_await q.get();
    EXPECT_EQ(item, 1);
    EXPECT_TRUE(q.empty());
  }());
}

// 254. test_full
TEST(Queue, Cat254_Full) {
  run_test([]() -> Coroutine<> {
    Queue<int> unbounded;
    EXPECT_FALSE(unbounded.full());
    Queue<int> q(1);
    co_await q.put(1);
    EXPECT_TRUE(q.full());
  }());
}

// maxsize <= 0 means unbounded.
TEST(Queue, NonPositiveMaxsizeIsUnbounded) {
  Queue<int> q(-3);
  for (int i = 0; i < 100; ++i) q.put_nowait(i);
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 100u);
  EXPECT_EQ(q.maxsize(), -3);
}

// 255. test_order
TEST(Queue, Cat255_Order) {
  EXPECT_EQ(put_then_get_order<Queue<int>>(), (Ints{1, 3, 2}));
}

namespace {
Coroutine<bool> putter_recording(Queue<int>* q, Ints* have_been_put) {
  for (int i = 0; i < 3; ++i) {
    co_await q->put(i);
    have_been_put->push_back(i);
  }
  co_return true;
}
}  // namespace

// 256. test_maxsize
TEST(Queue, Cat256_Maxsize) {
  Queue<int> q(2);
  Ints have_been_put;
  run_test([](Queue<int>& q, Ints& have_been_put) -> Coroutine<> {
    EXPECT_EQ(q.maxsize(), 2);
    Task<bool> t = create_task(putter_recording(&q, &have_been_put));
    for (int i = 0; i < 2; ++i) co_await asyncio::sleep(0);
    EXPECT_EQ(have_been_put, (Ints{0, 1}));  // blocked after two
    int item = co_await q.get();
    EXPECT_EQ(item, 0);
    co_await asyncio::sleep(0);  // the putter puts the last one
    EXPECT_EQ(have_been_put, (Ints{0, 1, 2}));
    item = co_await q.get();
    EXPECT_EQ(item, 1);
    item = co_await q.get();
    EXPECT_EQ(item, 2);
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.result());
  }(q, have_been_put));
}

// ================================================================== get

// 257. test_blocking_get
TEST(Queue, Cat257_BlockingGet) {
  run_test([]() -> Coroutine<> {
    Queue<int> q;
    q.put_nowait(1);
    const int item = co_await q.get();
    EXPECT_EQ(item, 1);
  }());
}

// 258. test_get_with_putters: get() from a full queue wakes the putter.
TEST(Queue, Cat258_GetWithPutters) {
  Queue<int> q(1);
  run_test([](Queue<int>& q) -> Coroutine<> {
    co_await q.put(1);
    Task<> putter = create_task(q.put(2));
    co_await asyncio::sleep(0);
    EXPECT_EQ(Access::putters(q), 1u);
    const int item = co_await q.get();
    EXPECT_EQ(item, 1);
    EXPECT_EQ(Access::putters(q), 0u);  // its waiter was woken (and unlinked)
    co_await putter;
    EXPECT_EQ(q.qsize(), 1u);
  }(q));
}

namespace {
Coroutine<int> started_get(Queue<int>* q, Event* started, bool* finished) {
  started->set();
  const int res = co_await q->get();
  *finished = true;
  co_return res;
}
}  // namespace

// test_blocking_get_wait
TEST(Queue, BlockingGetWait) {
  Queue<int> q;
  Event started;
  bool finished = false;
  run_test([](Queue<int>& q, Event& started, bool& finished) -> Coroutine<> {
    Task<int> t = create_task(started_get(&q, &started, &finished));
    co_await started.wait();
    EXPECT_FALSE(finished);
    get_running_loop().call_later(0.01, [&q] { q.put_nowait(1); });
    const int res = co_await t;
    EXPECT_TRUE(finished);
    EXPECT_EQ(res, 1);
    EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.01);
  }(q, started, finished));
}

// test_nonblocking_get, test_nonblocking_get_exception
TEST(Queue, NonblockingGet) {
  Queue<int> q;
  q.put_nowait(1);
  EXPECT_EQ(q.get_nowait(), 1);
  EXPECT_THROW_MSG(q.get_nowait(), QueueEmpty, "");
}

// 261. test_get_cancelled_race
TEST(Queue, Cat261_GetCancelledRace) {
  Queue<std::string> q;
  run_test([](Queue<std::string>& q) -> Coroutine<> {
    Task<std::string> t1 = create_task(q.get());
    Task<std::string> t2 = create_task(q.get());
    co_await asyncio::sleep(0);
    t1.cancel();
    co_await asyncio::sleep(0);
    EXPECT_TRUE(t1.done());
    co_await q.put("a");
    co_await asyncio::sleep(0);
    const std::string got = co_await t2;
    EXPECT_EQ(got, "a");
  }(q));
}

// test_get_with_waiting_putters
TEST(Queue, GetWithWaitingPutters) {
  Queue<std::string> q(1);
  run_test([](Queue<std::string>& q) -> Coroutine<> {
    create_task(q.put("a"));
    create_task(q.put("b"));
    std::string item = co_await q.get();
    EXPECT_EQ(item, "a");
    item = co_await q.get();
    EXPECT_EQ(item, "b");
  }(q));
}

namespace {
Coroutine<> consume_n(Queue<int>* q, int n) {
  for (int i = 0; i < n; ++i) co_await q->get();
}
Coroutine<> produce_n(Queue<int>* q, int n) {
  for (int i = 0; i < n; ++i) co_await q->put(i);
}
}  // namespace

// 263. test_why_are_getters_waiting: no deadlock through Queue(1).
TEST(Queue, Cat263_WhyAreGettersWaiting) {
  Queue<int> q(1);
  run_test([](Queue<int>& q) -> Coroutine<> {
    co_await gather(produce_n(&q, 5), consume_n(&q, 5));
    EXPECT_TRUE(q.empty());
  }(q));
}

// 264. test_cancelled_getters_not_being_held_in_self_getters:
// wait_for(queue.get(), 0.1) on an empty queue times out, leaving no getter.
TEST(Queue, Cat264_CancelledGettersNotHeld) {
  Queue<int> queue(5);
  run_test([](Queue<int>& queue) -> Coroutine<> {
    // ≙ asyncio.wait_for(queue.get(), 0.1): cancelled at the deadline,
    // which then reads as TimeoutError.
    Task<int> get = create_task(queue.get());
    TimerHandle deadline = get_running_loop().call_later(0.1, [get]() mutable { get.cancel(); });
    bool timed_out = false;
    try {
      co_await get;
    } catch (const CancelledError&) {
      timed_out = get.cancelled() && get_running_loop().time() >= 0.1;
    }
    deadline.cancel();
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(Access::getters(queue), 0u);
  }(queue));
}

// ================================================================== put

// test_blocking_put
TEST(Queue, BlockingPut) {
  run_test([]() -> Coroutine<> {
    Queue<int> q;
    co_await q.put(1);  // no maxsize: does not block
    const int item = co_await q.get();
    EXPECT_EQ(item, 1);
  }());
}

namespace {
Coroutine<> started_put_twice(Queue<int>* q, Event* started, bool* finished) {
  started->set();
  co_await q->put(1);
  co_await q->put(2);
  *finished = true;
}
}  // namespace

// 266. test_blocking_put_wait
TEST(Queue, Cat266_BlockingPutWait) {
  Queue<int> q(1);
  Event started;
  bool finished = false;
  run_test([](Queue<int>& q, Event& started, bool& finished) -> Coroutine<> {
    get_running_loop().call_later(0.01, [&q] { q.get_nowait(); });
    Task<> t = create_task(started_put_twice(&q, &started, &finished));
    co_await started.wait();
    EXPECT_FALSE(finished);
    co_await t;
    EXPECT_TRUE(finished);
    EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.01);
  }(q, started, finished));
}

// test_nonblocking_put
TEST(Queue, NonblockingPut) {
  Queue<int> q;
  q.put_nowait(1);
  EXPECT_EQ(q.get_nowait(), 1);
}

// 267. test_nonblocking_put_exception
TEST(Queue, Cat267_NonblockingPutException) {
  Queue<int> q(1);
  q.put_nowait(1);
  EXPECT_THROW_MSG(q.put_nowait(2), QueueFull, "");
  EXPECT_EQ(q.qsize(), 1u);
}

namespace {
Coroutine<int> get_retrying_once(Queue<int>* q) {
  Task<int> reader = create_task(q->get());
  co_await asyncio::sleep(0);
  q->put_nowait(1);
  q->put_nowait(2);
  reader.cancel();
  bool cancelled = false;
  try {
    co_await reader;
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    EXPECT_EQ(q->qsize(), 2u);  // the cancelled reader consumed nothing
    reader = create_task(q->get());
    co_await reader;
  }
  co_return reader.result();
}
}  // namespace

// 268. test_get_cancel_drop_one_pending_reader: a reader woken with an item
// and cancelled before it ran loses nothing.
TEST(Queue, Cat268_GetCancelDropOnePendingReader) {
  Queue<int> q;
  const int result = run_test(get_retrying_once(&q));
  EXPECT_EQ(result, 1);  // 2 would mean 1 was dropped
}

// test_get_cancel_drop_many_pending_readers
TEST(Queue, GetCancelDropManyPendingReaders) {
  Queue<int> q;
  run_test([](Queue<int>& q) -> Coroutine<> {
    Task<int> reader1 = create_task(q.get());
    Task<int> reader2 = create_task(q.get());
    Task<int> reader3 = create_task(q.get());
    co_await asyncio::sleep(0);
    q.put_nowait(1);
    q.put_nowait(2);
    reader1.cancel();
    co_await expect_raises<CancelledError>(reader1);
    co_await reader3;
    co_await reader2;
    EXPECT_EQ((std::set<int>{reader2.result(), reader3.result()}), (std::set<int>{1, 2}));
  }(q));
}

namespace {
Coroutine<> put_retrying_once(Queue<int>* q) {
  q->put_nowait(1);
  Task<> writer = create_task(q->put(2));  // blocks: qsize is 1
  co_await asyncio::sleep(0);
  const int value1 = q->get_nowait();
  EXPECT_EQ(value1, 1);
  writer.cancel();
  bool cancelled = false;
  try {
    co_await writer;
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    writer = create_task(q->put(2));
    co_await writer;
  }
  const int value2 = q->get_nowait();
  EXPECT_EQ(value2, 2);
  EXPECT_EQ(q->qsize(), 0u);
}
}  // namespace

// test_put_cancel_drop: a cancelled put() inserts nothing.
TEST(Queue, PutCancelDrop) {
  Queue<int> q(1);
  run_test(put_retrying_once(&q));
}

namespace {
Coroutine<bool> put_one(Queue<int>* q) {
  co_await q->put(1);
  co_return true;
}
}  // namespace

// 271. test_put_cancelled
TEST(Queue, Cat271_PutCancelled) {
  Queue<int> q;
  run_test([](Queue<int>& q) -> Coroutine<> {
    Task<bool> t = create_task(put_one(&q));
    const int item = co_await q.get();
    EXPECT_EQ(item, 1);
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.result());
  }(q));
}

// 272. test_put_cancelled_race
TEST(Queue, Cat272_PutCancelledRace) {
  Queue<std::string> q(1);
  run_test([](Queue<std::string>& q) -> Coroutine<> {
    Task<> put_a = create_task(q.put("a"));
    Task<> put_b = create_task(q.put("b"));
    Task<> put_c = create_task(q.put("X"));
    co_await asyncio::sleep(0);
    EXPECT_TRUE(put_a.done());
    EXPECT_FALSE(put_b.done());
    put_c.cancel();
    co_await asyncio::sleep(0);
    EXPECT_TRUE(put_c.done());
    EXPECT_EQ(q.get_nowait(), "a");
    co_await asyncio::sleep(0);
    EXPECT_EQ(q.get_nowait(), "b");
    co_await put_b;
  }(q));
}

// test_put_with_waiting_getters
TEST(Queue, PutWithWaitingGetters) {
  Queue<std::string> q;
  run_test([](Queue<std::string>& q) -> Coroutine<> {
    Task<std::string> t = create_task(q.get());
    co_await asyncio::sleep(0);
    co_await q.put("a");
    const std::string got = co_await t;
    EXPECT_EQ(got, "a");
  }(q));
}

namespace {
Coroutine<> putter(Queue<int>* queue, int item) { co_await queue->put(item); }

Coroutine<> drain_after_yield(Queue<int>* queue) {
  co_await asyncio::sleep(0);
  const std::size_t num = queue->qsize();
  for (std::size_t i = 0; i < num; ++i) queue->get_nowait();
}
}  // namespace

// 274. test_why_are_putters_waiting: no deadlock with Queue(2), four putters.
TEST(Queue, Cat274_WhyArePuttersWaiting) {
  Queue<int> queue(2);
  run_test([](Queue<int>& queue) -> Coroutine<> {
    co_await gather(drain_after_yield(&queue), putter(&queue, 0), putter(&queue, 1), putter(&queue, 2),
                    putter(&queue, 3));
    EXPECT_EQ(queue.qsize(), 2u);
  }(queue));
}

// 275. test_cancelled_puts_not_being_held_in_self_putters
TEST(Queue, Cat275_CancelledPutsNotHeld) {
  Queue<int> queue(1);
  run_test([](Queue<int>& queue) -> Coroutine<> {
    queue.put_nowait(1);
    Task<> put_task = create_task(queue.put(1));
    co_await asyncio::sleep(0);
    EXPECT_EQ(Access::putters(queue), 1u);
    put_task.cancel();
    co_await expect_raises<CancelledError>(put_task);
    EXPECT_EQ(Access::putters(queue), 0u);
  }(queue));
}

// 276. test_cancelled_put_silence_value_error_exception: woken by
// get_nowait(), then cancelled before it ran: plain CancelledError.
TEST(Queue, Cat276_CancelledPutSilenceValueError) {
  Queue<int> queue(1);
  run_test([](Queue<int>& queue) -> Coroutine<> {
    queue.put_nowait(1);
    Task<> put_task = create_task(queue.put(1));
    co_await asyncio::sleep(0);
    queue.get_nowait();  // wakes (and unlinks) the putter
    put_task.cancel();
    co_await expect_raises<CancelledError>(put_task);
    EXPECT_EQ(queue.qsize(), 0u);  // it put nothing
  }(queue));
}

// A putter woken and cancelled passes its slot to the next putter.
TEST(Queue, WokenPutterCancelledPassesSlot) {
  Queue<int> queue(1);
  run_test([](Queue<int>& queue) -> Coroutine<> {
    queue.put_nowait(0);
    Task<> p1 = create_task(queue.put(1));
    Task<> p2 = create_task(queue.put(2));
    co_await asyncio::sleep(0);
    EXPECT_EQ(queue.get_nowait(), 0);  // wakes p1 ...
    p1.cancel();                        // ... which is cancelled before it runs
    co_await gather(return_exceptions, p1, p2);
    EXPECT_TRUE(p1.cancelled());
    EXPECT_EQ(queue.get_nowait(), 2);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(Access::putters(queue), 0u);
  }(queue));
}

// A woken putter that finds the queue full again (someone put_nowait() in
// between) waits again, at the back of the line.
TEST(Queue, WokenPutterFindingQueueFullWaitsAgain) {
  Queue<int> queue(1);
  run_test([](Queue<int>& queue) -> Coroutine<> {
    queue.put_nowait(0);
    Task<> p1 = create_task(queue.put(1));
    co_await asyncio::sleep(0);
    Task<> p2 = create_task(queue.put(2));
    co_await asyncio::sleep(0);
    EXPECT_EQ(queue.get_nowait(), 0);  // wakes p1
    queue.put_nowait(9);               // barges in: put_nowait does not queue
    co_await asyncio::sleep(0);        // p1 runs, finds it full, queues behind p2
    EXPECT_FALSE(p1.done());
    EXPECT_EQ(Access::putters(queue), 2u);
    EXPECT_EQ(queue.get_nowait(), 9);  // wakes p2
    co_await p2;
    EXPECT_EQ(queue.get_nowait(), 2);  // wakes p1
    co_await p1;
    EXPECT_EQ(queue.get_nowait(), 1);
  }(queue));
}

// A woken get() that finds the queue empty again (someone get_nowait()
// first) waits again, at the back of the line.
TEST(Queue, WokenGetterFindingQueueEmptyWaitsAgain) {
  Queue<int> queue;
  run_test([](Queue<int>& queue) -> Coroutine<> {
    Task<int> g1 = create_task(queue.get());
    co_await asyncio::sleep(0);
    Task<int> g2 = create_task(queue.get());
    co_await asyncio::sleep(0);
    queue.put_nowait(1);               // wakes g1
    EXPECT_EQ(queue.get_nowait(), 1);  // and takes its item first
    co_await asyncio::sleep(0);        // g1 finds it empty, queues behind g2
    EXPECT_FALSE(g1.done());
    EXPECT_EQ(Access::getters(queue), 2u);
    queue.put_nowait(2);  // for g2
    queue.put_nowait(3);  // for g1
    const int a = co_await g2;
    const int b = co_await g1;
    EXPECT_EQ(a, 2);
    EXPECT_EQ(b, 3);
  }(queue));
}

// A woken putter that would find the queue full again, but the queue was
// shut down meanwhile: it raises QueueShutDown instead of waiting again.
TEST(Queue, WokenPutterFindsShutdown) {
  Queue<int> queue(1);
  run_test([](Queue<int>& queue) -> Coroutine<> {
    queue.put_nowait(0);
    Task<> p1 = create_task(queue.put(1));
    co_await asyncio::sleep(0);
    EXPECT_EQ(queue.get_nowait(), 0);  // wakes p1
    queue.put_nowait(9);               // fills the slot again
    queue.shutdown();
    co_await expect_raises<QueueShutDown>(p1);
    EXPECT_EQ(queue.qsize(), 1u);
    EXPECT_EQ(Access::putters(queue), 0u);
  }(queue));
}

// ======================================================= Lifo and Priority

// 277. LifoQueueTests::test_order
TEST(LifoQueue, Cat277_Order) {
  EXPECT_EQ(put_then_get_order<LifoQueue<int>>(), (Ints{2, 3, 1}));
}

// 278. PriorityQueueTests::test_order
TEST(PriorityQueue, Cat278_Order) {
  EXPECT_EQ(put_then_get_order<PriorityQueue<int>>(), (Ints{1, 2, 3}));
}

// Smallest first, as heapq, for many items and pairs (priority, data).
TEST(PriorityQueue, HeapOrderAndPairs) {
  PriorityQueue<int> q;
  std::mt19937 rng(7);
  Ints in(1000);
  for (int& v : in) v = static_cast<int>(rng() % 500);
  for (int v : in) q.put_nowait(v);
  Ints out;
  while (!q.empty()) out.push_back(q.get_nowait());
  std::sort(in.begin(), in.end());
  EXPECT_EQ(out, in);

  PriorityQueue<std::pair<int, std::string>> jobs;
  jobs.put_nowait({2, "code"});
  jobs.put_nowait({1, "eat"});
  jobs.put_nowait({3, "sleep"});
  EXPECT_EQ(jobs.get_nowait().second, "eat");
  EXPECT_EQ(jobs.get_nowait().second, "code");
  EXPECT_EQ(jobs.get_nowait().second, "sleep");

  PriorityQueue<int, std::greater<int>> largest_first;
  for (int v : {1, 3, 2}) largest_first.put_nowait(v);
  EXPECT_EQ(largest_first.get_nowait(), 3);
}

// ============================================================ move-only items

namespace {
struct ByPointee {
  bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const { return *a < *b; }
};

template <class Q>
Coroutine<Ints> move_only_round_trip(Q* q) {
  // Through a blocked put (the item waits inside put() for a slot), and a
  // put() temporary cancelled while blocked (its item is destroyed).
  for (int v : {5, 1, 4}) co_await q->put(std::make_unique<int>(v));
  Task<> blocked = create_task(q->put(std::make_unique<int>(2)));
  Task<> doomed = create_task(q->put(std::make_unique<int>(99)));
  co_await asyncio::sleep(0);
  doomed.cancel();
  Ints out;
  for (int i = 0; i < 4; ++i) {
    std::unique_ptr<int> p = co_await q->get();
    out.push_back(*p);
  }
  co_await blocked;
  try {
    co_await doomed;
  } catch (const CancelledError&) {
  }
  EXPECT_TRUE(q->empty());
  co_return out;
}
}  // namespace

TEST(Queue, MoveOnlyItems) {
  Queue<std::unique_ptr<int>> q(3);
  EXPECT_EQ(run_test(move_only_round_trip(&q)), (Ints{5, 1, 4, 2}));
  LifoQueue<std::unique_ptr<int>> lifo(3);
  EXPECT_EQ(run_test(move_only_round_trip(&lifo)), (Ints{4, 1, 5, 2}));
  PriorityQueue<std::unique_ptr<int>, ByPointee> prio(3);
  EXPECT_EQ(run_test(move_only_round_trip(&prio)), (Ints{1, 4, 5, 2}));
  // Items left in a queue are destroyed with it (ASan checks the rest).
  Queue<std::unique_ptr<int>> left;
  left.put_nowait(std::make_unique<int>(1));
  left.put_nowait(std::make_unique<int>(2));
}

namespace {
// Counts its live instances: every item put is destroyed exactly once,
// whichever way its put() or get() ends.
struct Tracked {
  static inline int live = 0;
  int v;
  explicit Tracked(int v) : v(v) { ++live; }
  Tracked(Tracked&& o) noexcept : v(o.v) { ++live; }
  Tracked& operator=(Tracked&&) = default;
  ~Tracked() { --live; }
};

Coroutine<> tracked_traffic(Queue<Tracked>* q) {
  co_await q->put(Tracked(1));                            // no wait
  Task<> blocked = create_task(q->put(Tracked(2)));       // waits, then puts
  Task<> cancelled = create_task(q->put(Tracked(3)));     // waits, cancelled
  Task<> orphaned = create_task(q->put(Tracked(4)));      // still waiting at the end
  co_await asyncio::sleep(0);
  cancelled.cancel();
  Tracked a = co_await q->get();
  EXPECT_EQ(a.v, 1);
  co_await blocked;
  try {
    co_await cancelled;
  } catch (const CancelledError&) {
  }
  Coroutine<Tracked> converted = q->get();  // an operation made a coroutine
  Tracked b = co_await converted;           // wakes the last putter ...
  EXPECT_EQ(b.v, 2);
  q->put_nowait(Tracked(5));  // ... which finds the queue full again, and waits on
  co_await asyncio::sleep(0);
  EXPECT_FALSE(orphaned.done());
  EXPECT_EQ(Access::putters(*q), 1u);
}
}  // namespace

// The operation objects put() returns hold their item across the wait: it
// is moved in exactly once, or destroyed with the operation.
TEST(Queue, ItemsDestroyedExactlyOnce) {
  {
    Queue<Tracked> q(1);
    {
      TestLoop t;
      t.loop.run_until_complete(tracked_traffic(&q));
      t.loop.close();  // destroys the put() still waiting, with its item
    }
    EXPECT_EQ(Access::putters(q), 0u);
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(Tracked::live, 1);  // item 5, in the queue
  }
  EXPECT_EQ(Tracked::live, 0);
}

// put() and get() give operations: awaitable once, convertible to
// coroutines for create_task(), gather() and the loop's methods.
TEST(Queue, OperationsAsCoroutines) {
  Queue<int> q;
  run_test([](Queue<int>& q) -> Coroutine<> {
    Task<int> getter = create_task(q.get(), "getter");
    EXPECT_EQ(getter.get_name(), "getter");
    Task<> putter = create_task(q.put(5));
    const int got = co_await getter;
    EXPECT_EQ(got, 5);
    EXPECT_TRUE(putter.done());
    auto [x, unit] = co_await gather(Coroutine<int>(q.get()), Coroutine<>(q.put(7)));
    EXPECT_EQ(x, 7);
    (void)unit;
    auto op = q.get();
    q.put_nowait(1);
    const int first = co_await op;
    EXPECT_EQ(first, 1);
    q.put_nowait(2);
    try {
      co_await op;  // awaited once already
      ADD_FAILURE() << "expected RuntimeError";
    } catch (const RuntimeError& e) {
      EXPECT_STREQ(e.what(), "cannot reuse already awaited coroutine");
    }
    EXPECT_EQ(q.qsize(), 1u);  // the second await took nothing
  }(q));
  EXPECT_EQ(TestLoop().loop.run_until_complete(Coroutine<int>(q.get())), 2);
}

// The ring buffer behind Queue grows while wrapped around, in order.
TEST(Queue, GrowsWhileWrapped) {
  Queue<std::string> q;
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round % 7 + 3; ++i) q.put_nowait(std::to_string(next_in++));
    for (int i = 0; i < round % 5 + 1 && !q.empty(); ++i) EXPECT_EQ(q.get_nowait(), std::to_string(next_out++));
  }
  while (!q.empty()) EXPECT_EQ(q.get_nowait(), std::to_string(next_out++));
  EXPECT_EQ(next_in, next_out);
  q.shutdown(true);
}

// ================================================================= join

namespace {
template <class Q>
void task_done_underflow() {
  Q q;
  EXPECT_THROW_MSG(q.task_done(), std::invalid_argument, "task_done() called too many times");
}

template <class Q>
Coroutine<> worker(Q* q, const bool* running, int* accumulator) {
  while (*running) {
    const int item = co_await q->get();
    *accumulator += item;
    q->task_done();
  }
}

template <class Q>
void task_done_join() {
  Q q;
  bool running = true;
  int accumulator = 0;
  run_test([](Q& q, bool& running, int& accumulator) -> Coroutine<> {
    for (int i = 0; i < 100; ++i) q.put_nowait(i);
    std::vector<Task<>> tasks;
    for (int i = 0; i < 2; ++i) tasks.push_back(create_task(worker(&q, &running, &accumulator)));
    co_await q.join();
    EXPECT_EQ(accumulator, 4950);
    running = false;  // close the workers
    for (std::size_t i = 0; i < tasks.size(); ++i) q.put_nowait(0);
    co_await gather(std::move(tasks));
  }(q, running, accumulator));
}

template <class Q>
void join_empty_queue() {
  Q q;
  run_test([](Q& q) -> Coroutine<> {
    // join() returns at once (twice for insurance): before anything else runs.
    bool other_ran = false;
    get_running_loop().call_soon([&other_ran] { other_ran = true; });
    co_await q.join();
    co_await q.join();
    EXPECT_FALSE(other_ran);
  }(q));
}
}  // namespace

// CPython runs the join and shutdown tests for each kind of queue (the
// _QueueJoinTestMixin and _QueueShutdownTestMixin classes): typed tests here.
template <class Q>
class QueueJoin : public ::testing::Test {};
using JoinKinds = ::testing::Types<Queue<int>, LifoQueue<int>, PriorityQueue<int>>;
TYPED_TEST_SUITE(QueueJoin, JoinKinds);

// 279. test_task_done_underflow
TYPED_TEST(QueueJoin, Cat279_TaskDoneUnderflow) { task_done_underflow<TypeParam>(); }

// 280. test_task_done
TYPED_TEST(QueueJoin, Cat280_TaskDone) { task_done_join<TypeParam>(); }

// 281. test_join_empty_queue
TYPED_TEST(QueueJoin, Cat281_JoinEmptyQueue) { join_empty_queue<TypeParam>(); }

// ============================================================== shutdown

namespace {
template <class Q>
Coroutine<> expect_all_shut(Q* q) {
  co_await expect_raises<QueueShutDown>(q->put("data"));
  EXPECT_THROW_MSG(q->put_nowait("data"), QueueShutDown, "");
  co_await expect_raises<QueueShutDown>(q->get());
  EXPECT_THROW_MSG(q->get_nowait(), QueueShutDown, "");
}

template <class Q>
void shutdown_empty() {
  Q q;
  run_test([](Q& q) -> Coroutine<> {
    Task<std::string> get_task = create_task(q.get());
    co_await asyncio::sleep(0);  // get() pending before the shutdown
    q.shutdown(false);           // unfinished tasks: 0 -> 0
    EXPECT_EQ(q.qsize(), 0u);
    co_await q.join();
    co_await asyncio::sleep(0);
    EXPECT_TRUE(get_task.done());
    co_await expect_raises<QueueShutDown>(get_task);
    co_await expect_all_shut(&q);
  }(q));
}

template <class Q>
void shutdown_nonempty() {
  Q q(1);
  run_test([](Q& q) -> Coroutine<> {
    q.put_nowait("data");
    Task<> join_task = create_task(q.join());
    Task<> put_task = create_task(q.put("data2"));
    co_await asyncio::sleep(0);
    EXPECT_FALSE(put_task.done());
    q.shutdown(false);  // unfinished tasks: 1 -> 1
    EXPECT_EQ(q.qsize(), 1u);
    co_await asyncio::sleep(0);
    EXPECT_TRUE(put_task.done());
    EXPECT_TRUE(holds<QueueShutDown>(put_task.exception()));
    const std::string item = co_await q.get();  // the queued item still comes out
    EXPECT_EQ(item, "data");
    co_await asyncio::sleep(0);
    EXPECT_FALSE(join_task.done());
    co_await expect_all_shut(&q);
    q.task_done();
    co_await asyncio::sleep(0);
    EXPECT_TRUE(join_task.done());
    co_await join_task;
    EXPECT_THROW_MSG(q.task_done(), std::invalid_argument, "task_done() called too many times");
  }(q));
}

template <class Q>
void shutdown_immediate() {
  Q q;
  run_test([](Q& q) -> Coroutine<> {
    q.put_nowait("data");
    Task<> join_task = create_task(q.join());
    q.shutdown(true);  // unfinished tasks: 1 -> 0
    EXPECT_EQ(q.qsize(), 0u);
    co_await asyncio::sleep(0);
    EXPECT_TRUE(join_task.done());
    co_await join_task;
    co_await expect_all_shut(&q);
    EXPECT_THROW_MSG(q.task_done(), std::invalid_argument, "task_done() called too many times");
  }(q));
}

template <class Q>
void shutdown_immediate_with_unfinished() {
  Q q;
  run_test([](Q& q) -> Coroutine<> {
    q.put_nowait("data");
    q.put_nowait("data");
    Task<> join_task = create_task(q.join());
    const std::string item = co_await q.get();
    EXPECT_EQ(item, "data");
    q.shutdown(true);  // unfinished tasks: 2 -> 1
    EXPECT_EQ(q.qsize(), 0u);
    co_await asyncio::sleep(0);
    EXPECT_FALSE(join_task.done());
    co_await expect_all_shut(&q);
    q.task_done();
    EXPECT_THROW_MSG(q.task_done(), std::invalid_argument, "task_done() called too many times");
    co_await asyncio::sleep(0);
    EXPECT_TRUE(join_task.done());
    co_await join_task;
  }(q));
}
}  // namespace

template <class Q>
class QueueShutdownKinds : public ::testing::Test {};
using ShutdownKinds = ::testing::Types<Queue<std::string>, LifoQueue<std::string>, PriorityQueue<std::string>>;
TYPED_TEST_SUITE(QueueShutdownKinds, ShutdownKinds);

// 282. test_shutdown_empty
TYPED_TEST(QueueShutdownKinds, Cat282_ShutdownEmpty) { shutdown_empty<TypeParam>(); }

// 283. test_shutdown_nonempty
TYPED_TEST(QueueShutdownKinds, Cat283_ShutdownNonempty) { shutdown_nonempty<TypeParam>(); }

// 284. test_shutdown_immediate
TYPED_TEST(QueueShutdownKinds, Cat284_ShutdownImmediate) { shutdown_immediate<TypeParam>(); }

// 285. test_shutdown_immediate_with_unfinished
TYPED_TEST(QueueShutdownKinds, Cat285_ShutdownImmediateWithUnfinished) {
  shutdown_immediate_with_unfinished<TypeParam>();
}

// A getter blocked on a queue that is shut down with items left still gets
// an item; with nothing left it gets QueueShutDown.
TEST(QueueShutdown, BlockedPutterAndGetters) {
  Queue<int> q(1);
  run_test([](Queue<int>& q) -> Coroutine<> {
    Task<int> g1 = create_task(q.get());
    Task<int> g2 = create_task(q.get());
    co_await asyncio::sleep(0);
    q.put_nowait(7);  // wakes g1
    q.shutdown();     // wakes g2 too
    co_await gather(return_exceptions, g1, g2);
    EXPECT_EQ(g1.result(), 7);
    EXPECT_TRUE(holds<QueueShutDown>(g2.exception()));
    EXPECT_EQ(Access::getters(q), 0u);
    EXPECT_EQ(Access::putters(q), 0u);
  }(q));
}

// A put() still pending when its loop closes is destroyed with its item and
// leaves no putter behind.
TEST(Queue, PendingPutDestroyedWithItsLoop) {
  Queue<std::unique_ptr<int>> q(1);
  q.put_nowait(std::make_unique<int>(1));
  {
    TestLoop t;
    Task<> put = t.loop.create_task(Coroutine<>(q.put(std::make_unique<int>(2))));
    t.run_briefly();
    EXPECT_EQ(Access::putters(q), 1u);
    t.loop.close();
    EXPECT_EQ(t.log.messages(), std::vector<std::string>{"Task was destroyed but it is pending!"});
  }
  EXPECT_EQ(Access::putters(q), 0u);
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(*q.get_nowait(), 1);
}

// ======================================================== loop binding

// The queue binds to the loop of its first wait.
TEST(QueueBinding, OtherLoopIsRefused) {
  Queue<int> q;
  run_test([](Queue<int>& q) -> Coroutine<> {
    Task<int> g = create_task(q.get());
    co_await asyncio::sleep(0);
    q.put_nowait(1);
    co_await g;
  }(q));
  TestLoop other;
  Task<int> t = other.loop.create_task(Coroutine<int>(q.get()));
  EXPECT_THROW(other.loop.run_until_complete(t), RuntimeError);
  const std::string msg = asyncio_test::what(t.exception());
  EXPECT_EQ(msg.rfind("<asyncio.queues.Queue object at ", 0), 0u) << msg;
  EXPECT_NE(msg.find("> is bound to a different event loop"), std::string::npos) << msg;
  // Non-waiting operations need no loop.
  q.put_nowait(2);
  EXPECT_EQ(q.get_nowait(), 2);
}

// ========================================================== stress test

namespace {
constexpr int kProducers = 100;
constexpr int kConsumers = 100;
constexpr int kItemsEach = 50;

struct Pipeline {
  Queue<int> q{10};
  std::vector<int> produced;  ///< items whose put() completed
  std::vector<int> consumed;  ///< items a get() returned
  int put_cancels = 0;
  int get_cancels = 0;
};

// Puts its items, retrying an item whose put() was cancelled (a cancelled
// put inserts nothing).
Coroutine<> producer(Pipeline* p, int id, unsigned seed) {
  std::mt19937 rng(seed);
  for (int k = 0; k < kItemsEach;) {
    const int item = id * kItemsEach + k;
    try {
      co_await p->q.put(item);
      p->produced.push_back(item);
      ++k;
      if (rng() % 3 == 0) co_await asyncio::sleep(0.001 * (rng() % 4));
    } catch (const CancelledError&) {
      current_task().uncancel();
      ++p->put_cancels;
    }
  }
}

// Takes items until the queue is shut down; a cancelled get() takes nothing.
Coroutine<> consumer(Pipeline* p, unsigned seed) {
  std::mt19937 rng(seed);
  for (;;) {
    try {
      const int item = co_await p->q.get();
      p->consumed.push_back(item);
      p->q.task_done();
      if (rng() % 3 == 0) co_await asyncio::sleep(0.001 * (rng() % 4));
    } catch (const CancelledError&) {
      current_task().uncancel();
      ++p->get_cancels;
    } catch (const QueueShutDown&) {
      co_return;
    }
  }
}

Coroutine<> cancel_randomly(std::vector<Task<>>* tasks, unsigned seed, const bool* stop) {
  std::mt19937 rng(seed);
  while (!*stop) {
    (*tasks)[rng() % tasks->size()].cancel();
    if (rng() % 2 == 0)
      co_await asyncio::sleep(0.0005);
    else
      co_await asyncio::sleep(0);
  }
}

Coroutine<> run_pipeline(Pipeline* p) {
  std::vector<Task<>> producers, consumers;
  for (int i = 0; i < kProducers; ++i) producers.push_back(create_task(producer(p, i, 100 + i)));
  for (int i = 0; i < kConsumers; ++i) consumers.push_back(create_task(consumer(p, 1000 + i)));
  std::vector<Task<>> all = producers;
  all.insert(all.end(), consumers.begin(), consumers.end());
  bool stop = false;
  Task<> chaos = create_task(cancel_randomly(&all, 42, &stop));
  co_await gather(std::move(producers));
  co_await p->q.join();  // every item put has been consumed
  stop = true;
  co_await chaos;
  p->q.shutdown();
  co_await gather(std::move(consumers));
}
}  // namespace

// 100 producers and 100 consumers over a bounded queue while random
// put()/get() calls are cancelled: every item is consumed exactly once.
TEST(QueueStress, ProducersConsumersWithCancellations) {
  Pipeline p;
  run_test(run_pipeline(&p));
  const std::size_t total = std::size_t{kProducers} * kItemsEach;
  ASSERT_EQ(p.produced.size(), total);
  std::sort(p.produced.begin(), p.produced.end());
  std::sort(p.consumed.begin(), p.consumed.end());
  EXPECT_EQ(p.consumed, p.produced);  // no item lost, none twice
  Ints all(total);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(p.produced, all);
  EXPECT_GT(p.put_cancels, 20);
  EXPECT_GT(p.get_cancels, 20);
  EXPECT_TRUE(p.q.empty());
  EXPECT_EQ(Access::getters(p.q), 0u);
  EXPECT_EQ(Access::putters(p.q), 0u);
}
