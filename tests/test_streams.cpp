// Tests for include/asyncio/streams.hpp (≙ Lib/test/test_asyncio/test_streams.py):
// catalogue area 9, the StreamReader / StreamWriter part (spec §9, §14 I).
//
// Ported: 286, 287, 290, 292, 293, 294, 295, 297, 298, 299, 300, 301, 303,
// 304, 305, 306, 307, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318,
// 319, 320, 321, 322, 323, 325. The Server part (327-332) is in
// test_server.cpp.
//
// CPython's run_test_server (an http.server in a thread) is an HTTP/1.0
// responder started with start_server in the same loop here; the talk with
// real Python peers is in test_net_interop.cpp.
#include <asyncio/streams.hpp>

#include "net_test.hpp"

#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::TestLoop;
using asyncio_test::what;
using net_test::NetLoop;
using net_test::port_of;
using net_test::run_net;

namespace {

const std::string DATA = "line1\nline2\nline3\n";

template <class F>
std::exception_ptr error_of(F&& f) {
  return asyncio_test::capture(std::forward<F>(f));
}

/// ≙ test_utils.run_test_server's handler: one HTTP/1.0 answer, then close.
Coroutine<> http_handler(StreamReader reader, StreamWriter writer) {
  try {
    co_await reader.readuntil("\r\n\r\n");
  } catch (const std::exception&) {
    writer.close();
    co_return;
  }
  writer.write("HTTP/1.0 200 OK\r\nServer: asyncio-cpp test\r\nContent-type: text/plain\r\n\r\nTest message");
  writer.close();
}

}  // namespace

// ---- 286 ---------------------------------------------------------------------

TEST(Streams, Cat286_FeedEmptyData) {
  StreamReader stream;
  stream.feed_data("");
  EXPECT_EQ(stream.buffer(), "");
}

TEST(Streams, Cat286_FeedNonemptyData) {
  StreamReader stream;
  stream.feed_data(DATA);
  EXPECT_EQ(stream.buffer(), DATA);
}

// ---- 287 ---------------------------------------------------------------------

TEST(Streams, Cat287_ReadZero) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data(DATA);
  EXPECT_EQ(t.loop.run_until_complete(stream.read(0)), "");
  EXPECT_EQ(stream.buffer(), DATA);
}

TEST(Streams, Read) {
  TestLoop t;
  StreamReader stream;
  Task<std::string> read_task = t.loop.create_task(stream.read(30));
  t.loop.call_soon([&] { stream.feed_data(DATA); });
  EXPECT_EQ(t.loop.run_until_complete(read_task), DATA);
  EXPECT_EQ(stream.buffer(), "");
}

TEST(Streams, ReadLineBreaks) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("line1");
  stream.feed_data("line2");
  EXPECT_EQ(t.loop.run_until_complete(stream.read(5)), "line1");
  EXPECT_EQ(stream.buffer(), "line2");
}

// ---- 290 ---------------------------------------------------------------------

TEST(Streams, Cat290_ReadEof) {
  TestLoop t;
  StreamReader stream;
  Task<std::string> read_task = t.loop.create_task(stream.read(1024));
  t.loop.call_soon([&] { stream.feed_eof(); });
  EXPECT_EQ(t.loop.run_until_complete(read_task), "");
  EXPECT_EQ(stream.buffer(), "");
}

TEST(Streams, ReadUntilEof) {
  TestLoop t;
  StreamReader stream;
  Task<std::string> read_task = t.loop.create_task(stream.read(-1));
  t.loop.call_soon([&] {
    stream.feed_data("chunk1\n");
    stream.feed_data("chunk2");
    stream.feed_eof();
  });
  EXPECT_EQ(t.loop.run_until_complete(read_task), "chunk1\nchunk2");
  EXPECT_EQ(stream.buffer(), "");
}

// ---- 292 ---------------------------------------------------------------------

TEST(Streams, Cat292_ReadException) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("line\n");
  EXPECT_EQ(t.loop.run_until_complete(stream.read(2)), "li");
  stream.set_exception(std::make_exception_ptr(std::invalid_argument("")));
  EXPECT_THROW(t.loop.run_until_complete(stream.read(2)), std::invalid_argument);
}

// ---- 293 ---------------------------------------------------------------------

TEST(Streams, Cat293_InvalidLimit) {
  for (std::ptrdiff_t limit : {0, -1}) {
    auto e = error_of([&] { StreamReader stream(limit); });
    EXPECT_TRUE(holds<std::invalid_argument>(e));
    EXPECT_NE(what(e).find("imit"), std::string::npos);
    EXPECT_EQ(what(e), "Limit cannot be <= 0");
  }
}

// ---- 294 ---------------------------------------------------------------------

TEST(Streams, Cat294_ReadLimit) {
  TestLoop t;
  StreamReader stream(3);
  stream.feed_data("chunk");
  EXPECT_EQ(t.loop.run_until_complete(stream.read(5)), "chunk");
  EXPECT_EQ(stream.buffer(), "");
}

// ---- 295 ---------------------------------------------------------------------

TEST(Streams, Cat295_Readline) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("chunk1 ");
  Task<std::string> read_task = t.loop.create_task(stream.readline());
  t.loop.call_soon([&] {
    stream.feed_data("chunk2 ");
    stream.feed_data("chunk3 ");
    stream.feed_data("\n chunk4");
  });
  EXPECT_EQ(t.loop.run_until_complete(read_task), "chunk1 chunk2 chunk3 \n");
  EXPECT_EQ(stream.buffer(), " chunk4");
}

TEST(Streams, ReadlineLimitWithExistingData) {
  TestLoop t;
  {
    StreamReader stream(3);
    stream.feed_data("li");
    stream.feed_data("ne1\nline2\n");
    EXPECT_THROW(t.loop.run_until_complete(stream.readline()), std::invalid_argument);
    EXPECT_EQ(stream.buffer(), "line2\n");
  }
  {
    StreamReader stream(3);
    stream.feed_data("li");
    stream.feed_data("ne1");
    stream.feed_data("li");
    EXPECT_THROW(t.loop.run_until_complete(stream.readline()), std::invalid_argument);
    EXPECT_EQ(stream.buffer(), "");
  }
}

// ---- 297 ---------------------------------------------------------------------

TEST(Streams, Cat297_AtEof) {
  TestLoop t;
  StreamReader stream;
  EXPECT_FALSE(stream.at_eof());
  stream.feed_data("some data\n");
  EXPECT_FALSE(stream.at_eof());
  t.loop.run_until_complete(stream.readline());
  EXPECT_FALSE(stream.at_eof());
  stream.feed_data("some data\n");
  stream.feed_eof();
  t.loop.run_until_complete(stream.readline());
  EXPECT_TRUE(stream.at_eof());
}

// ---- 298 ---------------------------------------------------------------------

TEST(Streams, Cat298_ReadlineLimit) {
  TestLoop t;
  {
    StreamReader stream(7);
    t.loop.call_soon([&] {
      stream.feed_data("chunk1");
      stream.feed_data("chunk2");
      stream.feed_data("chunk3\n");
      stream.feed_eof();
    });
    EXPECT_THROW(t.loop.run_until_complete(stream.readline()), std::invalid_argument);
    EXPECT_EQ(stream.buffer(), "");
  }
  {
    StreamReader stream(7);
    t.loop.call_soon([&] {
      stream.feed_data("chunk1");
      stream.feed_data("chunk2\n");
      stream.feed_data("chunk3\n");
      stream.feed_eof();
    });
    EXPECT_THROW(t.loop.run_until_complete(stream.readline()), std::invalid_argument);
    EXPECT_EQ(stream.buffer(), "chunk3\n");
  }
  // The strictness of the limit.
  StreamReader stream(7);
  stream.feed_data("1234567\n");
  EXPECT_EQ(t.loop.run_until_complete(stream.readline()), "1234567\n");
  EXPECT_EQ(stream.buffer(), "");
  stream.feed_data("12345678\n");
  EXPECT_THROW(t.loop.run_until_complete(stream.readline()), std::invalid_argument);
  EXPECT_EQ(stream.buffer(), "");
  stream.feed_data("12345678");
  EXPECT_THROW(t.loop.run_until_complete(stream.readline()), std::invalid_argument);
  EXPECT_EQ(stream.buffer(), "");
}

TEST(Streams, ReadlineLimitMessage) {
  TestLoop t;
  StreamReader stream(3);
  stream.feed_data("12345\n");
  auto e = error_of([&] { t.loop.run_until_complete(stream.readline()); });
  EXPECT_EXC(e, std::invalid_argument, "Separator is found, but chunk is longer than limit");
}

TEST(Streams, ReadlineNolimitNowait) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data(DATA.substr(0, 6));
  stream.feed_data(DATA.substr(6));
  EXPECT_EQ(t.loop.run_until_complete(stream.readline()), "line1\n");
  EXPECT_EQ(stream.buffer(), "line2\nline3\n");
}

// ---- 299 ---------------------------------------------------------------------

TEST(Streams, Cat299_ReadlineEof) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("some data");
  stream.feed_eof();
  EXPECT_EQ(t.loop.run_until_complete(stream.readline()), "some data");
}

TEST(Streams, Cat299_ReadlineEmptyEof) {
  TestLoop t;
  StreamReader stream;
  stream.feed_eof();
  EXPECT_EQ(t.loop.run_until_complete(stream.readline()), "");
}

// ---- 300 ---------------------------------------------------------------------

TEST(Streams, Cat300_ReadlineReadByteCount) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data(DATA);
  t.loop.run_until_complete(stream.readline());
  EXPECT_EQ(t.loop.run_until_complete(stream.read(7)), "line2\nl");
  EXPECT_EQ(stream.buffer(), "ine3\n");
}

// ---- 301 ---------------------------------------------------------------------

TEST(Streams, Cat301_ReadlineException) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("line\n");
  EXPECT_EQ(t.loop.run_until_complete(stream.readline()), "line\n");
  stream.set_exception(std::make_exception_ptr(std::invalid_argument("")));
  EXPECT_THROW(t.loop.run_until_complete(stream.readline()), std::invalid_argument);
  EXPECT_EQ(stream.buffer(), "");
}

TEST(Streams, ReaduntilSeparator) {
  TestLoop t;
  StreamReader stream;
  auto e = error_of([&] { t.loop.run_until_complete(stream.readuntil("")); });
  EXPECT_EXC(e, std::invalid_argument, "Separator should be at least one-byte string");
  e = error_of([&] { t.loop.run_until_complete(stream.readuntil(std::span<const std::string_view>())); });
  EXPECT_EXC(e, std::invalid_argument, "Separator should contain at least one element");
}

TEST(Streams, ReaduntilMultiChunks) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("lineAAA");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil("AAA")), "lineAAA");
  EXPECT_EQ(stream.buffer(), "");
  stream.feed_data("lineAAAxxx");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil("AAA")), "lineAAA");
  EXPECT_EQ(stream.buffer(), "xxx");
}

// ---- 303 ---------------------------------------------------------------------

TEST(Streams, Cat303_ReaduntilMultiChunks1) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("QWEaa");
  stream.feed_data("XYaa");
  stream.feed_data("a");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil("aaa")), "QWEaaXYaaa");
  EXPECT_EQ(stream.buffer(), "");

  stream.feed_data("QWEaa");
  stream.feed_data("XYa");
  stream.feed_data("aa");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil("aaa")), "QWEaaXYaaa");
  EXPECT_EQ(stream.buffer(), "");

  stream.feed_data("aaa");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil("aaa")), "aaa");
  EXPECT_EQ(stream.buffer(), "");

  stream.feed_data("Xaaa");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil("aaa")), "Xaaa");
  EXPECT_EQ(stream.buffer(), "");

  stream.feed_data("XXX");
  stream.feed_data("a");
  stream.feed_data("a");
  stream.feed_data("a");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil("aaa")), "XXXaaa");
  EXPECT_EQ(stream.buffer(), "");
}

TEST(Streams, ReaduntilSeparatorSplitAcrossFeedsWhileWaiting) {
  TestLoop t;
  StreamReader stream;
  Task<std::string> task = t.loop.create_task(stream.readuntil("aaa"));
  t.loop.call_soon([&] { stream.feed_data("QWEaa"); });
  t.loop.call_later(0.01, [&] { stream.feed_data("XYaa"); });
  t.loop.call_later(0.02, [&] { stream.feed_data("a!"); });
  EXPECT_EQ(t.loop.run_until_complete(task), "QWEaaXYaaa");
  EXPECT_EQ(stream.buffer(), "!");
}

// ---- 304 ---------------------------------------------------------------------

TEST(Streams, Cat304_ReaduntilEof) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("some dataAA");
  stream.feed_eof();
  auto e = error_of([&] { t.loop.run_until_complete(stream.readuntil("AAA")); });
  ASSERT_TRUE(holds<IncompleteReadError>(e));
  try {
    std::rethrow_exception(e);
  } catch (const IncompleteReadError& x) {
    EXPECT_EQ(x.partial, "some dataAA");
    EXPECT_FALSE(x.expected.has_value());
    EXPECT_NE(std::string(x.what()).find("undefined expected bytes"), std::string::npos);
    EXPECT_STREQ(x.what(), "11 bytes read on a total of undefined expected bytes");
  }
  EXPECT_EQ(stream.buffer(), "");
}

// ---- 305 ---------------------------------------------------------------------

TEST(Streams, Cat305_ReaduntilLimitFoundSep) {
  TestLoop t;
  StreamReader stream(3);
  stream.feed_data("some dataAA");
  auto e = error_of([&] { t.loop.run_until_complete(stream.readuntil("AAA")); });
  EXPECT_EXC(e, LimitOverrunError, "Separator is not found, and chunk exceed the limit");
  EXPECT_EQ(stream.buffer(), "some dataAA");

  stream.feed_data("A");
  e = error_of([&] { t.loop.run_until_complete(stream.readuntil("AAA")); });
  EXPECT_EXC(e, LimitOverrunError, "Separator is found, but chunk is longer than limit");
  EXPECT_EQ(stream.buffer(), "some dataAAA");
}

// ---- 306 ---------------------------------------------------------------------

TEST(Streams, Cat306_ReaduntilMultiSeparator) {
  TestLoop t;
  StreamReader stream;
  // Simple case.
  stream.feed_data("line 1\nline 2\r");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil({"\r", "\n"})), "line 1\n");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil({"\r", "\n"})), "line 2\r");
  EXPECT_EQ(stream.buffer(), "");
  // The first end position wins, even if that is a longer match.
  stream.feed_data("ABCDEFG");
  EXPECT_EQ(t.loop.run_until_complete(stream.readuntil({"DEF", "BCDE"})), "ABCDE");
  EXPECT_EQ(stream.buffer(), "FG");
}

// ---- 307 ---------------------------------------------------------------------

TEST(Streams, Cat307_ReaduntilMultiSeparatorLimit) {
  TestLoop t;
  StreamReader stream(3);
  stream.feed_data("some dataA");
  auto e = error_of([&] { t.loop.run_until_complete(stream.readuntil({"A", "ome dataA"})); });
  EXPECT_EXC(e, LimitOverrunError, "Separator is found, but chunk is longer than limit");
  EXPECT_EQ(stream.buffer(), "some dataA");
}

// ---- 309 ---------------------------------------------------------------------

TEST(Streams, Cat309_ReadexactlyZeroOrLess) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data(DATA);
  EXPECT_EQ(t.loop.run_until_complete(stream.readexactly(0)), "");
  EXPECT_EQ(stream.buffer(), DATA);
  auto e = error_of([&] { t.loop.run_until_complete(stream.readexactly(-1)); });
  EXPECT_EXC(e, std::invalid_argument, "readexactly size can not be less than zero");
  EXPECT_EQ(stream.buffer(), DATA);
}

// ---- 310 ---------------------------------------------------------------------

TEST(Streams, Cat310_Readexactly) {
  TestLoop t;
  StreamReader stream;
  const auto n = static_cast<std::ptrdiff_t>(2 * DATA.size());
  Task<std::string> read_task = t.loop.create_task(stream.readexactly(n));
  t.loop.call_soon([&] {
    stream.feed_data(DATA);
    stream.feed_data(DATA);
    stream.feed_data(DATA);
  });
  EXPECT_EQ(t.loop.run_until_complete(read_task), DATA + DATA);
  EXPECT_EQ(stream.buffer(), DATA);
}

// ---- 311 ---------------------------------------------------------------------

TEST(Streams, Cat311_ReadexactlyLimit) {
  TestLoop t;
  StreamReader stream(3);
  stream.feed_data("chunk");
  EXPECT_EQ(t.loop.run_until_complete(stream.readexactly(5)), "chunk");
  EXPECT_EQ(stream.buffer(), "");
}

// ---- 312 ---------------------------------------------------------------------

TEST(Streams, Cat312_ReadexactlyEof) {
  TestLoop t;
  StreamReader stream;
  const auto n = static_cast<std::ptrdiff_t>(2 * DATA.size());
  Task<std::string> read_task = t.loop.create_task(stream.readexactly(n));
  t.loop.call_soon([&] {
    stream.feed_data(DATA);
    stream.feed_eof();
  });
  auto e = error_of([&] { t.loop.run_until_complete(read_task); });
  ASSERT_TRUE(holds<IncompleteReadError>(e));
  try {
    std::rethrow_exception(e);
  } catch (const IncompleteReadError& x) {
    EXPECT_EQ(x.partial, DATA);
    EXPECT_EQ(x.expected, std::optional<std::size_t>(36));
    EXPECT_STREQ(x.what(), "18 bytes read on a total of 36 expected bytes");
  }
  EXPECT_EQ(stream.buffer(), "");
}

TEST(Streams, ReadexactlyException) {
  TestLoop t;
  StreamReader stream;
  stream.feed_data("line\n");
  EXPECT_EQ(t.loop.run_until_complete(stream.readexactly(2)), "li");
  stream.set_exception(std::make_exception_ptr(std::invalid_argument("")));
  EXPECT_THROW(t.loop.run_until_complete(stream.readexactly(2)), std::invalid_argument);
}

// ---- 313 ---------------------------------------------------------------------

TEST(Streams, Cat313_Exception) {
  StreamReader stream;
  EXPECT_FALSE(stream.exception());
  auto exc = std::make_exception_ptr(std::invalid_argument(""));
  stream.set_exception(exc);
  EXPECT_EQ(stream.exception(), exc);
}

TEST(Streams, Cat313_ExceptionWaiter) {
  TestLoop t;
  StreamReader stream;
  Task<std::string> t1 = t.loop.create_task(stream.readline());
  Task<> t2 = t.loop.create_task([](StreamReader s) -> Coroutine<> {
    s.set_exception(std::make_exception_ptr(std::invalid_argument("")));
    co_return;
  }(stream));
  t.loop.run_until_complete([](Task<std::string> a, Task<> b) -> Coroutine<> {
    co_await gather(return_exceptions, a, b);
  }(t1, t2));
  EXPECT_THROW(t1.result(), std::invalid_argument);
}

// ---- 314 ---------------------------------------------------------------------

TEST(Streams, Cat314_ExceptionCancel) {
  TestLoop t;
  StreamReader stream;
  Task<std::string> task = t.loop.create_task(stream.readline());
  t.run_briefly();
  task.cancel();
  t.run_briefly();
  // Fails if set_exception() is not careful with the cancelled waiter.
  stream.set_exception(std::make_exception_ptr(RuntimeError("message")));
  t.run_briefly();
  EXPECT_TRUE(task.cancelled());
  EXPECT_EQ(stream.repr(), "<StreamReader exception=RuntimeError('message')>");  // no waiter
  EXPECT_TRUE(t.log.calls.empty());
}

TEST(Streams, TwoReadersError) {
  TestLoop t;
  StreamReader stream;
  Task<std::string> first = t.loop.create_task(stream.read(10));
  t.run_briefly();
  auto e = error_of([&] { t.loop.run_until_complete(stream.readline()); });
  EXPECT_EXC(e, RuntimeError, "readuntil() called while another coroutine is already waiting for incoming data");
  e = error_of([&] { t.loop.run_until_complete(stream.readexactly(3)); });
  EXPECT_EXC(e, RuntimeError, "readexactly() called while another coroutine is already waiting for incoming data");
  e = error_of([&] { t.loop.run_until_complete(stream.read(3)); });
  EXPECT_EXC(e, RuntimeError, "read() called while another coroutine is already waiting for incoming data");
  stream.feed_data("x");
  EXPECT_EQ(t.loop.run_until_complete(first), "x");
}

TEST(Streams, Repr) {
  StreamReader stream;
  EXPECT_EQ(stream.repr(), "<StreamReader>");
  EXPECT_EQ(StreamReader(123).repr(), "<StreamReader limit=123>");
  stream.feed_data("data");
  EXPECT_EQ(stream.repr(), "<StreamReader 4 bytes>");
  StreamReader eof;
  eof.feed_eof();
  EXPECT_EQ(eof.repr(), "<StreamReader eof>");
}

// ---- 315 ---------------------------------------------------------------------

namespace {

Coroutine<> basetest_open_connection(StreamReader reader, StreamWriter writer) {
  writer.write("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(co_await reader.readline(), "HTTP/1.0 200 OK\r\n");
  std::string rest = co_await reader.read();
  EXPECT_TRUE(rest.ends_with("\r\n\r\nTest message")) << rest;
  writer.close();
}

}  // namespace

TEST(Streams, Cat315_OpenConnection) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(http_handler, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    co_await basetest_open_connection(reader, writer);
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
  });
}

TEST(Streams, Cat315_OpenUnixConnection) {
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("315");
    Server server = co_await start_unix_server(http_handler, path);
    auto [reader, writer] = co_await open_unix_connection(path);
    co_await basetest_open_connection(reader, writer);
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
  });
}

// ---- 316 ---------------------------------------------------------------------

namespace {

Coroutine<> basetest_open_connection_error(StreamReader reader, StreamWriter writer) {
  auto protocol = std::static_pointer_cast<StreamReaderProtocol>(writer.transport().get_protocol());
  protocol->connection_lost(std::make_exception_ptr(std::domain_error("division by zero")));
  bool raised = false;
  try {
    co_await reader.read();
  } catch (const std::domain_error&) {
    raised = true;
  }
  EXPECT_TRUE(raised);
  writer.close();
}

}  // namespace

TEST(Streams, Cat316_OpenConnectionError) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(http_handler, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    co_await basetest_open_connection_error(reader, writer);
    co_await asyncio::sleep(0);
    co_await net_test::close_server(server);
  });
}

TEST(Streams, Cat316_OpenUnixConnectionError) {
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("316");
    Server server = co_await start_unix_server(http_handler, path);
    auto [reader, writer] = co_await open_unix_connection(path);
    co_await basetest_open_connection_error(reader, writer);
    co_await asyncio::sleep(0);
    co_await net_test::close_server(server);
  });
}

// ---- 317 / 318 -------------------------------------------------------------

namespace {

Coroutine<> handle_client(StreamReader client_reader, StreamWriter client_writer) {
  std::string data = co_await client_reader.readline();
  client_writer.write(data);
  co_await client_writer.drain();
  client_writer.close();
  co_await client_writer.wait_closed();
}

void handle_client_callback(StreamReader client_reader, StreamWriter client_writer) {
  create_task(handle_client(std::move(client_reader), std::move(client_writer)));
}

Coroutine<std::string> echo_client(StreamReader reader, StreamWriter writer) {
  writer.write("hello world!\n");
  std::string msgback = co_await reader.readline();
  writer.close();
  co_await writer.wait_closed();
  co_return msgback;
}

Coroutine<std::string> tcp_client(int port) {
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  co_return co_await echo_client(reader, writer);
}

Coroutine<std::string> unix_client(std::string path) {
  auto [reader, writer] = co_await open_unix_connection(path);
  co_return co_await echo_client(reader, writer);
}

}  // namespace

TEST(Streams, Cat317_StartServer) {
  run_net([](NetLoop&) -> Coroutine<> {
    // A coroutine as the client handler.
    Server server = co_await start_server(handle_client, "127.0.0.1", 0);
    EXPECT_EQ(co_await tcp_client(port_of(server)), "hello world!\n");
    co_await net_test::close_server(server);
    // A plain callback as the client handler.
    server = co_await start_server(handle_client_callback, "127.0.0.1", 0);
    EXPECT_EQ(co_await tcp_client(port_of(server)), "hello world!\n");
    co_await net_test::close_server(server);
  });
}

TEST(Streams, Cat318_StartUnixServer) {
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("318");
    Server server = co_await start_unix_server(handle_client, path);
    EXPECT_EQ(co_await unix_client(path), "hello world!\n");
    co_await net_test::close_server(server);
    server = co_await start_unix_server(handle_client_callback, path);
    EXPECT_EQ(co_await unix_client(path), "hello world!\n");
    co_await net_test::close_server(server);
  });
}

// ---- 319 ---------------------------------------------------------------------

TEST(Streams, Cat319_MultipleDrain) {
  TestLoop t;
  int drained = 0;
  auto stream = std::make_shared<FlowControlMixin>();
  stream->pause_writing();
  t.loop.call_later(0.1, [&] { stream->resume_writing(); });
  std::vector<Coroutine<>> drainers;
  for (int i = 0; i < 10; ++i)
    drainers.push_back([](std::shared_ptr<FlowControlMixin> s, int& n) -> Coroutine<> {
      co_await s->drain_helper();
      ++n;
    }(stream, drained));
  t.loop.run_until_complete([](std::vector<Coroutine<>> d) -> Coroutine<> {
    co_await gather(std::move(d));
  }(std::move(drainers)));
  EXPECT_EQ(drained, 10);
}

// ---- 320 ---------------------------------------------------------------------

TEST(Streams, Cat320_DrainRaises) {
  // The server must not be asyncio: a thread that accepts and closes.
  int port = 0;
  int listener = net_test::raw_listener(port);
  ASSERT_GE(listener, 0);
  std::thread server([listener] {
    int c = accept(listener, nullptr, nullptr);
    if (c >= 0) close(c);
  });
  static int s_port;
  s_port = port;
  run_net([](NetLoop&) -> Coroutine<> {
    auto [reader, writer] = co_await open_connection("localhost", s_port);
    std::exception_ptr error;
    // Must not loop forever (bounded here, so that a failure fails).
    for (int i = 0; i < 100000 && !error; ++i) {
      writer.write("foo\n");
      try {
        co_await writer.drain();
      } catch (...) {
        error = std::current_exception();
      }
    }
    EXPECT_TRUE(error) << "drain() never raised";
    if (error) try {
      std::rethrow_exception(error);
    } catch (const std::system_error& e) {
      EXPECT_TRUE(e.code() == std::errc::connection_reset || e.code() == std::errc::connection_aborted ||
                  e.code() == std::errc::broken_pipe)
          << e.what();
    }
  });
  server.join();
  close(listener);
}

// ---- 321 ---------------------------------------------------------------------

TEST(Streams, Cat321_WaitClosedOnClose) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(http_handler, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    wr.write("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(co_await rd.readline(), "HTTP/1.0 200 OK\r\n");
    std::string data = co_await rd.read();
    EXPECT_TRUE(data.ends_with("\r\n\r\nTest message"));
    EXPECT_FALSE(wr.is_closing());
    wr.close();
    EXPECT_TRUE(wr.is_closing());
    co_await wr.wait_closed();
    co_await net_test::close_server(server);
  });
}

TEST(Streams, Cat321_WaitClosedOnCloseWithUnreadData) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(http_handler, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    wr.write("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(co_await rd.readline(), "HTTP/1.0 200 OK\r\n");
    wr.close();
    co_await wr.wait_closed();
    co_await net_test::close_server(server);
  });
}

// ---- 322 ---------------------------------------------------------------------

TEST(Streams, Cat322_AsyncWriterApiExceptionAfterClose) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(http_handler, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    wr.write("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(co_await rd.readline(), "HTTP/1.0 200 OK\r\n");
    std::string data = co_await rd.read();
    EXPECT_TRUE(data.ends_with("\r\n\r\nTest message"));
    wr.close();
    std::exception_ptr error;
    try {
      wr.write("data");
      co_await wr.drain();
    } catch (...) {
      error = std::current_exception();
    }
    EXPECT_EXC(error, std::system_error, "Connection lost");
    try {
      std::rethrow_exception(error);
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::connection_reset);
    } catch (...) {
    }
    co_await net_test::close_server(server);
  });
}

// ---- 323 ---------------------------------------------------------------------

TEST(Streams, Cat323_EofFeedWhenClosingWriter) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(http_handler, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    wr.close();
    co_await wr.wait_closed();
    EXPECT_TRUE(rd.at_eof());
    EXPECT_EQ(co_await rd.read(), "");
    co_await net_test::close_server(server);
  });
}

// ---- 325 ---------------------------------------------------------------------

namespace {

Coroutine<> read_to_end_and_close(int port) {
  auto [rd, wr] = co_await open_connection("localhost", port);
  co_await rd.read();
  wr.close();
  co_await wr.wait_closed();
}

}  // namespace

TEST(Streams, Cat325_UnhandledCancel) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(
        [](StreamReader, StreamWriter writer) -> Coroutine<> {
          writer.close();
          current_task().cancel();
          co_return;
        },
        "localhost", 0);
    co_await read_to_end_and_close(port_of(server));
    co_await net_test::close_server(server);
  });
}

TEST(Streams, UnhandledExceptions) {
  // ≙ test_unhandled_exceptions: reported once, and the connection closed.
  std::vector<std::string> messages;
  {
    NetLoop t;
    t.loop.run_until_complete([](NetLoop&) -> Coroutine<> {
      Server server = co_await start_server(
          [](StreamReader, StreamWriter writer) -> Coroutine<> {
            writer.write("disconnect");
            throw std::domain_error("division by zero");
            co_return;
          },
          "127.0.0.1", 0);
      auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
      EXPECT_EQ(co_await rd.read(), "disconnect");
      wr.close();
      co_await wr.wait_closed();
      co_await net_test::close_server(server);
    }(t));
    t.loop.close();
    messages = t.log.messages();
    ASSERT_EQ(t.log.calls.size(), 1u);
    EXPECT_TRUE(holds<std::domain_error>(t.log.calls[0].exception));
  }
  EXPECT_EQ(messages, std::vector<std::string>{"Unhandled exception in client_connected_cb"});
}

// ---- more than the catalogue -------------------------------------------------

TEST(Streams, ReaderFlowControlPausesTheTransport) {
  // Over 2 × limit buffered, the transport stops reading; reading the
  // buffer down to the limit resumes it.
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string payload = net_test::pattern(256 * 1024);
    Server server = co_await start_server(
        [](StreamReader, StreamWriter writer) -> Coroutine<> {
          writer.write(net_test::pattern(256 * 1024));
          co_await writer.drain();
          writer.close();
          co_await writer.wait_closed();
        },
        "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server), {.limit = 4096});
    for (int i = 0; i < 2000 && wr.transport().is_reading(); ++i) co_await asyncio::sleep(0.001);
    EXPECT_FALSE(wr.transport().is_reading());
    EXPECT_LE(rd.buffer().size(), 2 * 4096 + 64 * 1024u);
    std::string all = co_await rd.read();  // resumes as it goes
    EXPECT_EQ(all, payload);
    wr.close();
    co_await wr.wait_closed();
    co_await net_test::close_server(server);
  });
}

TEST(Streams, ReadexactlyOverLimitDoesNotDeadlock) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(
        [](StreamReader, StreamWriter writer) -> Coroutine<> {
          writer.write(net_test::pattern(100000, 7));
          co_await writer.drain();
          writer.close();
        },
        "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server), {.limit = 1000});
    EXPECT_EQ(co_await rd.readexactly(100000), net_test::pattern(100000, 7));
    EXPECT_EQ(co_await rd.read(), "");
    EXPECT_TRUE(rd.at_eof());
    wr.close();
    co_await wr.wait_closed();
    co_await net_test::close_server(server);
  });
}

TEST(Streams, CancelledReadLeavesDataAndConnection) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(handle_client, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    Task<std::string> reading = create_task(rd.readline());
    co_await asyncio::sleep(0.01);
    reading.cancel();
    bool cancelled = false;
    try {
      co_await reading;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
    wr.write("still works\n");
    EXPECT_EQ(co_await rd.readline(), "still works\n");
    wr.close();
    co_await wr.wait_closed();
    co_await net_test::close_server(server);
  });
}

TEST(Streams, WriterExtraInfoAndWriteEof) {
  run_net([](NetLoop&) -> Coroutine<> {
    // The handler reads to EOF, then answers with what it got.
    Server server = co_await start_server(
        [](StreamReader reader, StreamWriter writer) -> Coroutine<> {
          std::string all = co_await reader.read();
          writer.writelines({"got:", all});
          co_await writer.drain();
          writer.close();
        },
        "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    auto peer = std::any_cast<SocketAddress>(wr.get_extra_info("peername"));
    EXPECT_EQ(peer.family, AF_INET);
    EXPECT_EQ(peer.host, "127.0.0.1");
    EXPECT_EQ(peer.port, port_of(server));
    EXPECT_EQ(peer.repr(), "('127.0.0.1', " + std::to_string(port_of(server)) + ")");
    auto sock = std::any_cast<TransportSocket>(wr.get_extra_info("socket"));
    EXPECT_GE(sock.fileno(), 0);
    EXPECT_EQ(sock.getsockopt(IPPROTO_TCP, TCP_NODELAY) != 0, true);  // CPython sets TCP_NODELAY
    EXPECT_FALSE(wr.get_extra_info("nothing").has_value());
    EXPECT_EQ(std::any_cast<int>(wr.get_extra_info("nothing", 5)), 5);
    EXPECT_TRUE(wr.can_write_eof());
    wr.writelines({"a", "b", "c"});
    wr.write_eof();
    EXPECT_THROW_MSG(wr.write("x"), RuntimeError, "Cannot call write() after write_eof()");
    EXPECT_EQ(co_await rd.read(), "got:abc");
    wr.close();
    co_await wr.wait_closed();
    co_await net_test::close_server(server);
  });
}

TEST(Streams, DroppedWriterClosesTheConnection) {
  // ≙ StreamWriter.__del__: the last handle closes an open transport.
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(http_handler, "127.0.0.1", 0);
    StreamReader reader;
    {
      auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
      reader = rd;
    }
    EXPECT_EQ(co_await reader.read(), "");  // closed: EOF, no data
    co_await net_test::close_server(server);
  });
}
