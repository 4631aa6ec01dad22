// asyncio-cpp: SPDX-License-Identifier: MIT
// add_reader / add_writer / remove_* and wait_readable / wait_writable.
// Ports of the add_reader/add_writer cases of CPython's test_events.py,
// test_selector_events.py (there against a mock selector, here against
// real sockets) and test_unix_events.py.
#include "sock_test.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <string>

using asyncio::Coroutine;
using asyncio::EventLoop;
using sock_test::poll_handles;
using sock_test::socketpair;

namespace {

/// ≙ test_utils.run_until: passes of the loop until `pred()`, at most ~5 s.
template <class P>
bool run_until(EventLoop& loop, P pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) {
    loop.call_later(0.001, [&loop] { loop.stop(); });
    loop.run_forever();
  }
  return pred();
}

/// Runs passes until the loop has been idle once (the due callbacks ran).
void run_briefly(EventLoop& loop) {
  for (int i = 0; i < 3; ++i) {
    loop.call_later(0.001, [&loop] { loop.stop(); });
    loop.run_forever();
  }
}

}  // namespace

TEST(Events, test_reader_callback) {
  net_test::NetLoop t;
  EventLoop& loop = t.loop;
  auto [r, w] = socketpair();
  std::string bytes_read;
  loop.add_reader(r.fileno(), [&, fd = r.fileno()] {
    char buf[1024];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) return;  // spurious readiness is possible (man select)
    if (n > 0) {
      bytes_read.append(buf, static_cast<std::size_t>(n));
    } else {
      EXPECT_TRUE(loop.remove_reader(fd));
      r.close();
    }
  });
  loop.call_soon([&] { ::send(w.fileno(), "abc", 3, 0); });
  ASSERT_TRUE(run_until(loop, [&] { return bytes_read.size() >= 3; }));
  loop.call_soon([&] { ::send(w.fileno(), "def", 3, 0); });
  ASSERT_TRUE(run_until(loop, [&] { return bytes_read.size() >= 6; }));
  loop.call_soon([&] { w.close(); });
  ASSERT_TRUE(run_until(loop, [&] { return r.fileno() == -1; }));
  EXPECT_EQ(bytes_read, "abcdef");
  EXPECT_EQ(poll_handles(loop), 0);
}

TEST(Events, test_writer_callback) {
  net_test::NetLoop t;
  EventLoop& loop = t.loop;
  auto [r, w] = socketpair();
  const std::string data(1024, 'x');
  loop.add_writer(w.fileno(), [&] {
    ::send(w.fileno(), data.data(), data.size(), 0);
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(loop.remove_writer(w.fileno()));
  EXPECT_FALSE(loop.remove_writer(w.fileno()));
  w.close();
  char buf[4096];
  const ssize_t n = ::recv(r.fileno(), buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0))), data);
}

TEST(SelectorEventLoop, test_add_reader) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int calls = 0;
  t.loop.add_reader(r.fileno(), [&] { ++calls; });
  EXPECT_EQ(poll_handles(t.loop), 1);
  run_briefly(t.loop);
  EXPECT_EQ(calls, 0);  // not readable yet
  ::send(w.fileno(), "x", 1, 0);
  EXPECT_TRUE(run_until(t.loop, [&] { return calls > 0; }));
  EXPECT_TRUE(t.loop.remove_reader(r.fileno()));
  EXPECT_EQ(poll_handles(t.loop), 0);
}

TEST(SelectorEventLoop, test_add_reader_existing) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int first = 0, second = 0;
  t.loop.add_reader(r.fileno(), [&] { ++first; });
  t.loop.add_reader(r.fileno(), [&] { ++second; });
  ::send(w.fileno(), "x", 1, 0);
  EXPECT_TRUE(run_until(t.loop, [&] { return second > 0; }));
  EXPECT_EQ(first, 0);
  EXPECT_EQ(poll_handles(t.loop), 1);
  EXPECT_TRUE(t.loop.remove_reader(r.fileno()));
}

// A writer removed by the reader of the same entry is not called (CPython
// cancels its handle, already in the ready queue).
TEST(SelectorEventLoop, WriterRemovedByReaderIsNotCalled) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int reads = 0, writes = 0;
  ::send(w.fileno(), "x", 1, 0);  // readable, and writable as always
  t.loop.add_writer(r.fileno(), [&] { ++writes; });
  t.loop.add_reader(r.fileno(), [&] {
    if (++reads == 1) {
      EXPECT_TRUE(t.loop.remove_writer(r.fileno()));
    }
  });
  EXPECT_TRUE(run_until(t.loop, [&] { return reads > 0; }));
  EXPECT_EQ(writes, 0);
  EXPECT_TRUE(t.loop.remove_reader(r.fileno()));
  EXPECT_EQ(poll_handles(t.loop), 0);
}

TEST(SelectorEventLoop, test_add_reader_existing_writer) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int reads = 0, writes = 0;
  t.loop.add_writer(r.fileno(), [&] { ++writes; });
  t.loop.add_reader(r.fileno(), [&] { ++reads; });
  ::send(w.fileno(), "x", 1, 0);
  EXPECT_TRUE(run_until(t.loop, [&] { return reads > 0 && writes > 0; }));
  EXPECT_EQ(poll_handles(t.loop), 1);
  EXPECT_TRUE(t.loop.remove_reader(r.fileno()));
  EXPECT_TRUE(t.loop.remove_writer(r.fileno()));
  EXPECT_EQ(poll_handles(t.loop), 0);
}

TEST(SelectorEventLoop, test_remove_reader) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  t.loop.add_reader(r.fileno(), [] {});
  EXPECT_TRUE(t.loop.remove_reader(r.fileno()));
  EXPECT_FALSE(t.loop.remove_reader(r.fileno()));
  EXPECT_EQ(poll_handles(t.loop), 0);
}

TEST(SelectorEventLoop, test_remove_reader_read_write) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int reads = 0, writes = 0;
  t.loop.add_reader(r.fileno(), [&] { ++reads; });
  t.loop.add_writer(r.fileno(), [&] { ++writes; });
  EXPECT_TRUE(t.loop.remove_reader(r.fileno()));
  ::send(w.fileno(), "x", 1, 0);
  EXPECT_TRUE(run_until(t.loop, [&] { return writes > 0; }));
  EXPECT_EQ(reads, 0);
  EXPECT_EQ(poll_handles(t.loop), 1);
  EXPECT_TRUE(t.loop.remove_writer(r.fileno()));
}

TEST(SelectorEventLoop, test_remove_reader_unknown) {
  net_test::NetLoop t;
  EXPECT_FALSE(t.loop.remove_reader(1000));
}

TEST(SelectorEventLoop, test_add_writer) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int calls = 0;
  t.loop.add_writer(w.fileno(), [&] { ++calls; });
  EXPECT_TRUE(run_until(t.loop, [&] { return calls > 0; }));
  EXPECT_EQ(poll_handles(t.loop), 1);
  EXPECT_TRUE(t.loop.remove_writer(w.fileno()));
  EXPECT_EQ(poll_handles(t.loop), 0);
}

TEST(SelectorEventLoop, test_add_writer_existing) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int first = 0, second = 0;
  t.loop.add_writer(w.fileno(), [&] { ++first; });
  t.loop.add_writer(w.fileno(), [&] { ++second; });
  EXPECT_TRUE(run_until(t.loop, [&] { return second > 0; }));
  EXPECT_EQ(first, 0);
  EXPECT_TRUE(t.loop.remove_writer(w.fileno()));
}

TEST(SelectorEventLoop, test_remove_writer) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  t.loop.add_writer(w.fileno(), [] {});
  EXPECT_TRUE(t.loop.remove_writer(w.fileno()));
  EXPECT_FALSE(t.loop.remove_writer(w.fileno()));
  EXPECT_EQ(poll_handles(t.loop), 0);
}

TEST(SelectorEventLoop, test_remove_writer_read_write) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int reads = 0, writes = 0;
  t.loop.add_reader(w.fileno(), [&] { ++reads; });
  t.loop.add_writer(w.fileno(), [&] { ++writes; });
  EXPECT_TRUE(t.loop.remove_writer(w.fileno()));
  ::send(r.fileno(), "x", 1, 0);
  EXPECT_TRUE(run_until(t.loop, [&] { return reads > 0; }));
  EXPECT_EQ(writes, 0);
  EXPECT_TRUE(t.loop.remove_reader(w.fileno()));
  EXPECT_EQ(poll_handles(t.loop), 0);
}

TEST(SelectorEventLoop, test_remove_writer_unknown) {
  net_test::NetLoop t;
  EXPECT_FALSE(t.loop.remove_writer(1000));
}

// A callback that raises is reported, and stays registered (CPython's
// Handle reports and the selector keeps the key).
TEST(SelectorEventLoop, ReaderExceptionIsReported) {
  net_test::NetLoop t;
  auto [r, w] = socketpair();
  int calls = 0;
  t.loop.add_reader(r.fileno(), [&] {
    ++calls;
    throw std::runtime_error("boom");
  });
  ::send(w.fileno(), "x", 1, 0);
  EXPECT_TRUE(run_until(t.loop, [&] { return calls >= 2; }));
  ASSERT_FALSE(t.log.calls.empty());
  EXPECT_EQ(t.log.calls[0].message, "Exception in callback <Handle>");
  EXPECT_TRUE(t.loop.remove_reader(r.fileno()));
}

TEST(SelectorEventLoop, AddReaderRegularFile) {
  net_test::NetLoop t;
  FILE* f = std::tmpfile();
  const int fd = fileno(f);
  try {
    t.loop.add_reader(fd, [] {});
    ADD_FAILURE() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_not_permitted);
  }
  EXPECT_EQ(poll_handles(t.loop), 0);
  EXPECT_FALSE(t.loop.remove_reader(fd));
  std::fclose(f);
}

TEST(SelectorEventLoop, AfterCloseRemoveIsFalseAndAddRaises) {
  auto [r, w] = socketpair();
  EventLoop loop;
  loop.add_reader(r.fileno(), [] {});
  loop.close();
  EXPECT_FALSE(loop.remove_reader(r.fileno()));
  EXPECT_THROW(loop.add_reader(r.fileno(), [] {}), asyncio::RuntimeError);
}

namespace {

Coroutine<> transport_fd(net_test::NetLoop& t) {
  auto [a, b] = socketpair();
  const int fd = a.fileno();
  auto factory = [] { return std::make_shared<asyncio::Protocol>(); };
  auto [tr, pr] = co_await asyncio::create_connection(t.loop, factory, asyncio::ConnectionOptions{.sock = a.detach()});
  const std::string msg =
      "File descriptor " + std::to_string(fd) + " is used by transport <_SelectorSocketTransport fd=" + std::to_string(fd) + ">";
  auto expect = [&](auto&& call) {
    try {
      call();
      ADD_FAILURE() << "no error";
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_EQ(std::string(e.what()), msg);
    }
  };
  expect([&] { t.loop.add_reader(fd, [] {}); });
  expect([&] { t.loop.add_writer(fd, [] {}); });
  expect([&] { t.loop.remove_reader(fd); });
  expect([&] { t.loop.remove_writer(fd); });
  tr->close();
  co_await asyncio::sleep(0);
}

}  // namespace

TEST(UnixEventLoop, test_add_reader_or_writer_transport_fd) { net_test::run_net(transport_fd); }

// wait_readable / wait_writable (beyond CPython).

namespace {

Coroutine<> wait_readable_cancelled(net_test::NetLoop& t) {
  auto [r, w] = socketpair();
  asyncio::Task<> waiting = t.loop.create_task(t.loop.wait_readable(r.fileno()));
  co_await asyncio::sleep(0);
  EXPECT_EQ(poll_handles(t.loop), 1);
  waiting.cancel();
  auto e = co_await asyncio_test::raises(waiting);
  EXPECT_TRUE(asyncio_test::holds<asyncio::CancelledError>(e));
  EXPECT_EQ(poll_handles(t.loop), 0);
  EXPECT_FALSE(t.loop.remove_reader(r.fileno()));
  // The descriptor can be waited for again.
  ::send(w.fileno(), "x", 1, 0);
  co_await t.loop.wait_readable(r.fileno());
  EXPECT_EQ(poll_handles(t.loop), 0);
}

Coroutine<> wait_readable_and_writable(net_test::NetLoop& t) {
  auto [r, w] = socketpair();
  asyncio::Task<> reading = t.loop.create_task(t.loop.wait_readable(r.fileno()));
  co_await t.loop.wait_writable(r.fileno());  // one watcher, both sides
  EXPECT_FALSE(reading.done());
  EXPECT_EQ(poll_handles(t.loop), 1);
  ::send(w.fileno(), "x", 1, 0);
  co_await reading;
  EXPECT_EQ(poll_handles(t.loop), 0);
}

Coroutine<> wait_readable_twice(net_test::NetLoop& t) {
  auto [r, w] = socketpair();
  asyncio::Task<> first = t.loop.create_task(t.loop.wait_readable(r.fileno()));
  co_await asyncio::sleep(0);
  auto e = co_await asyncio_test::raises(t.loop.wait_readable(r.fileno()));
  EXPECT_EQ(asyncio_test::what(e),
            "File descriptor " + std::to_string(r.fileno()) + " is already waited for by another coroutine");
  t.loop.add_writer(r.fileno(), [] {});
  EXPECT_EQ(asyncio_test::what(co_await asyncio_test::raises(t.loop.wait_writable(r.fileno()))),
            "File descriptor " + std::to_string(r.fileno()) + " is already waited for by another writer");
  EXPECT_TRUE(t.loop.remove_writer(r.fileno()));
  // add_reader() over a waiting coroutine wakes it (it would wait for
  // ever); the reader stays.
  t.loop.add_reader(r.fileno(), [] {});
  co_await first;
  EXPECT_TRUE(t.loop.remove_reader(r.fileno()));
  EXPECT_EQ(poll_handles(t.loop), 0);
}

}  // namespace

TEST(WaitReadable, CancelLeavesNoPollHandle) { net_test::run_net(wait_readable_cancelled); }
TEST(WaitReadable, ReadableAndWritableShareOneWatcher) { net_test::run_net(wait_readable_and_writable); }
TEST(WaitReadable, SecondWaiterIsAnError) { net_test::run_net(wait_readable_twice); }

TEST(WaitReadable, PendingAtLoopCloseIsReleased) {
  auto [r, w] = socketpair();
  {
    EventLoop loop;
    loop.set_exception_handler([](EventLoop&, const asyncio::ExceptionContext&) {});
    asyncio::Task<> waiting = loop.create_task(loop.wait_readable(r.fileno()));
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
    loop.close();  // the task is orphaned, its frame freed, nothing touched after
  }
  SUCCEED();
}

// The task's handle dropped: close() orphans it and frees its frame while
// the watcher is still open (the frame must not be reached afterwards).
TEST(WaitReadable, OrphanedAtLoopCloseFreesItsFrameFirst) {
  auto [r, w] = socketpair();
  EventLoop loop;
  loop.set_exception_handler([](EventLoop&, const asyncio::ExceptionContext&) {});
  loop.create_task(loop.wait_readable(r.fileno()));
  loop.call_soon([&loop] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(poll_handles(loop), 1);
  loop.close();
  EXPECT_FALSE(loop.remove_reader(r.fileno()));
}
