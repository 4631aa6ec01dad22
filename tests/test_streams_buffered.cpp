// Tests of the reads and the drain awaited directly (`co_await
// reader.readuntil(...)`): the operations of include/asyncio/streams.hpp
// (detail::StreamRead, detail::StreamDrain) take buffered data at once, with
// no suspension, as CPython's reads do (they only await _wait_for_data()
// when the buffer lacks the data: Lib/asyncio/streams.py), and otherwise
// wait, read(n) on the reader's waiter itself. test_streams.cpp mostly runs
// the reads through run_until_complete(), i.e. through the coroutine the
// operation converts to; these await the operation itself, and check the
// conversions (create_task, wait_for, shield, gather).
#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

#include "net_test.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::TestLoop;
using net_test::run_net;

namespace {

template <class F>
std::exception_ptr error_of(F&& f) {
  return asyncio_test::capture(std::forward<F>(f));
}

/// Each read of a buffered stream completes before a callback scheduled
/// before it: no read yields to the loop (CPython: the list printed before
/// the callback runs holds only the reads).
Coroutine<> buffered_reads(StreamReader r, std::vector<std::string>* order) {
  get_running_loop().call_soon([order] { order->push_back("soon"); });
  order->push_back(co_await r.readline());
  order->push_back(co_await r.readexactly(2));
  order->push_back(co_await r.read(1));
  order->push_back(co_await r.readuntil("t"));
  const std::string_view seps[] = {"x", "!"};  // GCC 12: no braced list inside a co_await
  order->push_back(co_await r.readuntil(seps));
  order->push_back("reads done");
  co_await asyncio::sleep(0);
}

}  // namespace

TEST(StreamsBuffered, BufferedReadsDoNotYield) {
  TestLoop t;
  StreamReader r;
  r.feed_data("line1\nrest!");
  std::vector<std::string> order;
  t.loop.run_until_complete(buffered_reads(r, &order));
  EXPECT_EQ(order, (std::vector<std::string>{"line1\n", "re", "s", "t", "!", "reads done", "soon"}));
  EXPECT_EQ(r.buffer(), "");
}

namespace {

/// A cancellation pending on the task is not delivered by a buffered read
/// (no suspension), only at the next real suspension, as in CPython.
Coroutine<std::string> read_with_cancel_pending(StreamReader r, bool* cancelled_at_sleep) {
  current_task().cancel();
  std::string line = co_await r.readline();
  try {
    co_await asyncio::sleep(0);
  } catch (const CancelledError&) {
    *cancelled_at_sleep = true;
    current_task().uncancel();
  }
  co_return line;
}

}  // namespace

TEST(StreamsBuffered, BufferedReadIsNoCancellationPoint) {
  TestLoop t;
  StreamReader r;
  r.feed_data("a\nb\n");
  bool cancelled_at_sleep = false;
  EXPECT_EQ(t.loop.run_until_complete(read_with_cancel_pending(r, &cancelled_at_sleep)), "a\n");
  EXPECT_TRUE(cancelled_at_sleep);
  EXPECT_EQ(r.buffer(), "b\n");
}

namespace {

Coroutine<> read_kind(StreamReader r, int kind) {
  const std::string_view seps[] = {"\n", "d"};
  switch (kind) {
    case 0:
      (void)co_await r.readline();
      break;
    case 1:
      (void)co_await r.readuntil("\n");
      break;
    case 2:
      (void)co_await r.readexactly(2);
      break;
    case 3:
      (void)co_await r.read(2);
      break;
    default:
      (void)co_await r.readuntil(seps);
  }
}

}  // namespace

TEST(StreamsBuffered, ExceptionComesBeforeBufferedData) {
  // ≙ every read's `if self._exception is not None: raise self._exception`
  // ahead of the buffer.
  for (int kind = 0; kind < 5; ++kind) {
    TestLoop t;
    StreamReader r;
    r.feed_data("data\n");
    r.set_exception(std::make_exception_ptr(std::invalid_argument("boom")));
    auto e = error_of([&] { t.loop.run_until_complete(read_kind(r, kind)); });
    EXPECT_EXC(e, std::invalid_argument, "boom");
    EXPECT_EQ(r.buffer(), "data\n") << kind;
  }
}

namespace {

Coroutine<> limit_cases(StreamReader r) {
  // Separator found beyond the limit: LimitOverrunError, data kept.
  try {
    (void)co_await r.readuntil("!");
    ADD_FAILURE() << "no LimitOverrunError";
  } catch (const LimitOverrunError& e) {
    EXPECT_EQ(std::string(e.what()), "Separator is found, but chunk is longer than limit");
    EXPECT_EQ(e.consumed, 6u);
  }
  EXPECT_EQ(r.buffer(), "123456!\nab\n");
  // readline(): the long line is dropped, ValueError.
  try {
    (void)co_await r.readline();
    ADD_FAILURE() << "no ValueError";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "Separator is found, but chunk is longer than limit");
  }
  EXPECT_EQ(co_await r.readline(), "ab\n");
  r.feed_data("xyz");
  r.feed_eof();
  try {
    (void)co_await r.readexactly(5);
    ADD_FAILURE() << "no IncompleteReadError";
  } catch (const IncompleteReadError& e) {
    EXPECT_EQ(e.partial, "xyz");
    EXPECT_EQ(e.expected, 5u);
  }
  EXPECT_EQ(co_await r.read(4), "");  // at EOF: "" at once
}

}  // namespace

TEST(StreamsBuffered, LimitAndEofErrorsWhenAwaited) {
  TestLoop t;
  StreamReader r(5);
  r.feed_data("123456!\nab\n");
  t.loop.run_until_complete(limit_cases(r));
}

namespace {

Coroutine<> separators_in_order(StreamReader r) {
  // 3.13: the shortest chunk wins, whatever the tuple's order.
  const std::string_view def_bcde[] = {"DEF", "BCDE"}, cr_lf[] = {"\r", "\n"};
  EXPECT_EQ(co_await r.readuntil(def_bcde), "ABCDE");
  EXPECT_EQ(co_await r.readuntil(cr_lf), "F\n");
  // Bad separators fail when awaited.
  try {
    (void)co_await r.readuntil("");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "Separator should be at least one-byte string");
  }
  try {
    (void)co_await r.readuntil(std::span<const std::string_view>());
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "Separator should contain at least one element");
  }
  try {
    (void)co_await r.readexactly(-1);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "readexactly size can not be less than zero");
  }
  EXPECT_EQ(co_await r.readexactly(0), "");
  EXPECT_EQ(co_await r.read(0), "");
}

}  // namespace

TEST(StreamsBuffered, SeparatorsAndArguments) {
  TestLoop t;
  StreamReader r;
  r.feed_data("ABCDEF\nrest");
  t.loop.run_until_complete(separators_in_order(r));
  EXPECT_EQ(r.buffer(), "rest");
}

namespace {

Coroutine<> owns_its_arguments(std::vector<std::string>* got) {
  StreamReader* r = new StreamReader();
  r->feed_data("aaa--a long separator that is not small--bbb");
  std::string sep = "--a long separator that is not small--";
  auto op = r->readuntil(sep);
  auto rest = r->read(100);
  sep.assign(sep.size(), 'x');  // the operation keeps its own copy
  delete r;                     // and a reference to the reader
  got->push_back(co_await op);
  got->push_back(co_await rest);
}

Coroutine<> reused(StreamReader r) {
  auto op = r.readline();
  EXPECT_EQ(co_await op, "one\n");
  try {
    (void)co_await op;
    ADD_FAILURE() << "awaited twice";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot reuse already awaited coroutine");
  }
}

}  // namespace

TEST(StreamsBuffered, OperationOwnsSeparatorAndReader) {
  TestLoop t;
  std::vector<std::string> got;
  t.loop.run_until_complete(owns_its_arguments(&got));
  EXPECT_EQ(got, (std::vector<std::string>{"aaa--a long separator that is not small--", "bbb"}));
}

TEST(StreamsBuffered, AwaitedOnce) {
  TestLoop t;
  StreamReader r;
  r.feed_data("one\ntwo\n");
  t.loop.run_until_complete(reused(r));
  EXPECT_EQ(r.buffer(), "two\n");
}

namespace {

Coroutine<std::string> read_n(StreamReader r, std::size_t n) { co_return co_await r.read(static_cast<std::ptrdiff_t>(n)); }
Coroutine<std::string> readuntil_awaited(StreamReader r) { co_return co_await r.readuntil("\r\n"); }

}  // namespace

TEST(StreamsBuffered, ReadWaitIsWokenByData) {
  TestLoop t;
  StreamReader r;
  Task<std::string> task = t.loop.create_task(read_n(r, 5));
  t.run_briefly();
  EXPECT_EQ(r.repr(), "<StreamReader waiter=<Future pending>>");
  r.feed_data("abcdefg");
  EXPECT_EQ(t.loop.run_until_complete(task), "abcde");
  EXPECT_EQ(r.repr(), "<StreamReader 2 bytes>");  // the waiter is gone
  // The next wait reuses the reader's waiter.
  Task<std::string> again = t.loop.create_task(read_n(r, 5));
  EXPECT_EQ(t.loop.run_until_complete(again), "fg");
  Task<std::string> third = t.loop.create_task(read_n(r, 5));
  t.run_briefly();
  r.feed_data("h");
  EXPECT_EQ(t.loop.run_until_complete(third), "h");
}

TEST(StreamsBuffered, ReadWaitEndsAtEofAndOnException) {
  TestLoop t;
  StreamReader r;
  Task<std::string> task = t.loop.create_task(read_n(r, 5));
  t.run_briefly();
  r.feed_eof();
  EXPECT_EQ(t.loop.run_until_complete(task), "");
  StreamReader r2;
  Task<std::string> task2 = t.loop.create_task(read_n(r2, 5));
  t.run_briefly();
  r2.set_exception(std::make_exception_ptr(std::invalid_argument("lost")));
  auto e = error_of([&] { t.loop.run_until_complete(task2); });
  EXPECT_EXC(e, std::invalid_argument, "lost");
  EXPECT_EQ(r2.repr(), "<StreamReader exception=std::invalid_argument('lost')>");
}

TEST(StreamsBuffered, CancelledWaitsLeaveNoWaiterAndKeepTheData) {
  // ≙ test_exception_cancel / CPython: a cancelled read leaves the buffer
  // and no waiter; the next read gets the data.
  TestLoop t;
  StreamReader r;
  Task<std::string> task = t.loop.create_task(read_n(r, 5));
  t.run_briefly();
  task.cancel();
  t.run_briefly();
  EXPECT_TRUE(task.cancelled());
  EXPECT_EQ(r.repr(), "<StreamReader>");
  r.feed_data("abc\r");
  // The slow path of readuntil (its coroutine), cancelled while waiting.
  Task<std::string> line = t.loop.create_task(readuntil_awaited(r));
  t.run_briefly();
  EXPECT_FALSE(line.done());
  line.cancel();
  t.run_briefly();
  EXPECT_TRUE(line.cancelled());
  EXPECT_EQ(r.repr(), "<StreamReader 4 bytes>");
  r.feed_data("\nmore");
  EXPECT_EQ(t.loop.run_until_complete(readuntil_awaited(r)), "abc\r\n");
  EXPECT_EQ(t.loop.run_until_complete(read_n(r, 100)), "more");
}

namespace {

Coroutine<> second_waiter(StreamReader r) {
  try {
    (void)co_await r.read(3);
    ADD_FAILURE();
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()), "read() called while another coroutine is already waiting for incoming data");
  }
  try {
    (void)co_await r.readuntil("x");
    ADD_FAILURE();
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "readuntil() called while another coroutine is already waiting for incoming data");
  }
}

}  // namespace

TEST(StreamsBuffered, AlreadyWaiting) {
  TestLoop t;
  StreamReader r;
  Task<std::string> first = t.loop.create_task(read_n(r, 10));
  t.run_briefly();
  t.loop.run_until_complete(second_waiter(r));
  r.feed_data("x");
  EXPECT_EQ(t.loop.run_until_complete(first), "x");
}

namespace {

Coroutine<> conversions(StreamReader r, Queue<int>* q) {
  // wait_for() of a read, of a queue's get(): as of their coroutines.
  try {
    (void)co_await wait_for(r.readline(), 1.0);
    ADD_FAILURE();
  } catch (const TimeoutError&) {
  }
  EXPECT_EQ(r.repr(), "<StreamReader>");  // the cancelled read left no waiter
  try {
    (void)co_await wait_for(q->get(), std::chrono::milliseconds(10));
    ADD_FAILURE();
  } catch (const TimeoutError&) {
  }
  r.feed_data("one\ntwo\nthree\n");
  EXPECT_EQ(co_await wait_for(r.readline(), 1.0), "one\n");
  Future<std::string> shielded = shield(r.readline());
  EXPECT_EQ(co_await shielded, "two\n");
  Task<std::string> task = create_task(r.readline());
  EXPECT_EQ(co_await task, "three\n");
  r.feed_data("ab");
  auto [a, b] = co_await gather(r.read(1), r.read(1));
  EXPECT_EQ(a + b, "ab");
}

}  // namespace

TEST(StreamsBuffered, ConvertsWhereACoroutineGoes) {
  TestLoop t;
  StreamReader r;
  Queue<int> q;
  t.loop.run_until_complete(conversions(r, &q));
  r.feed_data("x\n");
  Task<std::string> task = t.loop.create_task(r.readline(), "reader");
  EXPECT_EQ(task.get_name(), "reader");
  EXPECT_EQ(t.loop.run_until_complete(task), "x\n");
  r.feed_data("yz");
  EXPECT_EQ(t.loop.run_until_complete(r.read(5)), "yz");
  q.put_nowait(7);
  EXPECT_EQ(t.loop.run_until_complete(q.get()), 7);
}

namespace {

/// drain() with nothing to wait for does not yield (CPython's drain()
/// awaits only its _drain_helper(), which returns at once).
Coroutine<> drain_no_yield(net_test::NetLoop&) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto [reader, writer] = co_await open_connection({.sock = sv[0]});
  std::vector<std::string> order;
  get_running_loop().call_soon([&order] { order.push_back("soon"); });
  writer.write("ping");
  co_await writer.drain();
  order.push_back("drained");
  EXPECT_EQ(order, (std::vector<std::string>{"drained"}));
  char buf[8];
  EXPECT_EQ(::recv(sv[1], buf, sizeof buf, 0), 4);
  // An exception set on the reader comes out of drain().
  reader.set_exception(std::make_exception_ptr(std::invalid_argument("reader failed")));
  try {
    co_await writer.drain();
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "reader failed");
  }
  // Once the transport is closing, drain() yields (so that
  // connection_lost() can run), then raises "Connection lost".
  writer.close();
  co_await writer.wait_closed();
  auto d = writer.drain();
  Task<> late = create_task(std::move(d));
  try {
    co_await late;
    ADD_FAILURE();
  } catch (const std::invalid_argument&) {
    // the reader's exception still comes first
  }
  ::close(sv[1]);
}

}  // namespace

TEST(StreamsBuffered, DrainWithNothingToWaitFor) { run_net(drain_no_yield); }

TEST(StreamsBuffered, ReadWaitDestroyedWithItsTask) {
  // A task suspended in read(n)'s wait, destroyed with its loop: the
  // operation, in the task's frame, clears the reader's waiter (≙ the
  // finally of _wait_for_data), so a later read does not see "already
  // waiting".
  StreamReader r;
  {
    TestLoop t;
    Task<std::string> task = t.loop.create_task(read_n(r, 5));
    t.run_briefly();
    EXPECT_EQ(r.repr(), "<StreamReader waiter=<Future pending>>");
    task = {};
    t.loop.close();
    EXPECT_FALSE(t.log.calls.empty());  // "Task was destroyed but it is pending!"
  }
  EXPECT_EQ(r.repr(), "<StreamReader>");
  TestLoop t2;
  r.feed_data("abc");
  EXPECT_EQ(t2.loop.run_until_complete(read_n(r, 5)), "abc");
}
