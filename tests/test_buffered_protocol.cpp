// asyncio-cpp: SPDX-License-Identifier: MIT
// BufferedProtocol over the stream transports: CPython's test_buffered_proto
// and SelectorSocketTransportBufferedProtocolTests (test_selector_events.py),
// with real socket pairs instead of mocked sockets.
#include <asyncio/base_events.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/streams.hpp>

#include "net_test.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::what;
using net_test::run_net;

namespace {

/// ≙ test_utils.make_test_protocol(BufferedProtocol): a `size`-byte buffer
/// of its own; records every call.
struct Buffered : BufferedProtocol {
  explicit Buffered(std::size_t size = 100) : buffer(size) {}
  std::vector<char> buffer;
  std::vector<std::ptrdiff_t> hints;
  std::vector<std::size_t> updates;
  std::string data;  // the bytes, taken from `buffer` at buffer_updated()
  Transport* transport = nullptr;
  bool eof = false, keep_open = false, lost = false;
  std::exception_ptr lost_exc;
  Future<> done = get_running_loop().create_future();
  std::function<void()> on_update;

  void connection_made(Transport& t) override { transport = &t; }
  std::span<char> get_buffer(std::ptrdiff_t hint) override {
    hints.push_back(hint);
    return buffer;
  }
  void buffer_updated(std::size_t n) override {
    updates.push_back(n);
    data.append(buffer.data(), n);
    if (on_update) on_update();
  }
  bool eof_received() override {
    eof = true;
    return keep_open;
  }
  void connection_lost(std::exception_ptr exc) override {
    lost = true;
    lost_exc = exc;
    if (!done.done()) done.set_result();
  }
};

/// A socket pair, one end a transport for `protocol`.
struct Pair {
  int peer = -1;
  std::shared_ptr<Transport> transport;
};

template <class P>
Coroutine<Pair> connect(std::shared_ptr<P> protocol) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto factory = [protocol] { return protocol; };
  auto [t, p] = co_await create_connection(get_running_loop(), factory, ConnectionOptions{.sock = sv[0]});
  co_return Pair{sv[1], t};
}

template <class Pred>
Coroutine<bool> run_until(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) co_await sleep(0.001);
  co_return pred();
}

void send_all(int fd, std::string_view s) { ASSERT_EQ(::send(fd, s.data(), s.size(), 0), static_cast<ssize_t>(s.size())); }

}  // namespace

TEST(BufferedProtocol, test_buffered_proto_create_connection) {
  // A 9 KiB message through a 100-byte buffer, from a streams server.
  run_net([](auto&) -> Coroutine<> {
    static const std::string noise = [] {
      std::string s;
      for (int i = 0; i < 1024; ++i) s += "12345678+";
      return s;
    }();
    Server srv = co_await start_server(
        [](StreamReader r, StreamWriter w) -> Coroutine<> {
          w.write(noise);
          co_await r.readexactly(1);
          w.close();
          co_await w.wait_closed();
        },
        "127.0.0.1", 0);
    auto proto = std::make_shared<Buffered>();
    proto->on_update = [p = proto.get()] {
      if (p->data == noise) p->transport->write("1");
    };
    auto factory = [proto] { return proto; };
    auto [t, p] = co_await create_connection(get_running_loop(), factory, "127.0.0.1", net_test::port_of(srv));
    co_await proto->done;
    EXPECT_EQ(proto->data, noise);
    EXPECT_FALSE(proto->lost_exc);
    for (std::size_t n : proto->updates) EXPECT_LE(n, 100u);
    proto->on_update = nullptr;
    co_await net_test::close_server(srv);
  });
}

TEST(BufferedProtocol, test_read_ready) {
  // The bytes land in the protocol's own buffer; get_buffer(-1).
  run_net([](auto&) -> Coroutine<> {
    auto proto = std::make_shared<Buffered>(16);
    Pair pair = co_await connect(proto);
    send_all(pair.peer, "0123456789");
    EXPECT_TRUE(co_await run_until([&] { return proto->data.size() == 10; }));
    EXPECT_EQ(std::string(proto->buffer.data(), 10), "0123456789");
    CO_ASSERT_FALSE(proto->hints.empty());
    EXPECT_EQ(proto->hints.front(), -1);
    EXPECT_EQ(proto->updates.front(), 10u);
    pair.transport->close();
    co_await proto->done;
    ::close(pair.peer);
  });
}

TEST(BufferedProtocol, test_read_ready_eof) {
  run_net([](auto&) -> Coroutine<> {
    auto proto = std::make_shared<Buffered>();
    Pair pair = co_await connect(proto);
    send_all(pair.peer, "abc");
    ::close(pair.peer);
    co_await proto->done;
    EXPECT_EQ(proto->data, "abc");
    EXPECT_TRUE(proto->eof);
    EXPECT_FALSE(proto->lost_exc);
  });
}

TEST(BufferedProtocol, test_read_ready_eof_keep_open) {
  run_net([](auto&) -> Coroutine<> {
    auto proto = std::make_shared<Buffered>();
    proto->keep_open = true;
    Pair pair = co_await connect(proto);
    ::shutdown(pair.peer, SHUT_WR);
    EXPECT_TRUE(co_await run_until([&] { return proto->eof; }));
    EXPECT_FALSE(pair.transport->is_closing());
    pair.transport->write("still");
    char buf[8];
    EXPECT_EQ(::recv(pair.peer, buf, sizeof buf, 0), 5);
    pair.transport->close();
    co_await proto->done;
    ::close(pair.peer);
  });
}

namespace {

/// Runs `body` on a loop whose exception handler is recorded, and gives
/// the messages it got.
template <class F>
std::vector<std::string> run_reporting(F body) {
  const int before = net_test::count_fds();
  std::vector<std::string> messages;
  {
    net_test::NetLoop t;
    t.loop.run_until_complete(body());
    t.run_briefly();
    t.loop.close();
    messages = t.log.messages();
  }
  EXPECT_EQ(net_test::count_fds(), before) << "file descriptors leaked";
  return messages;
}

struct Throwing : Buffered {
  enum { get_buffer_throws, get_buffer_empty, buffer_updated_throws, eof_throws } mode;
  explicit Throwing(decltype(mode) m) : mode(m) {}
  std::span<char> get_buffer(std::ptrdiff_t hint) override {
    if (mode == get_buffer_throws) throw std::out_of_range("LookupError");
    if (mode == get_buffer_empty) return {};
    return Buffered::get_buffer(hint);
  }
  void buffer_updated(std::size_t n) override {
    Buffered::buffer_updated(n);
    if (mode == buffer_updated_throws) throw std::out_of_range("LookupError");
  }
  bool eof_received() override {
    Buffered::eof_received();
    if (mode == eof_throws) throw std::out_of_range("LookupError");
    return false;
  }
};

/// Connects a Throwing(mode), sends "data" then EOF, and waits for the end.
std::shared_ptr<Throwing> provoke(decltype(Throwing::mode) mode, std::vector<std::string>& messages) {
  std::shared_ptr<Throwing> proto;
  messages = run_reporting([&]() -> Coroutine<> {
    proto = std::make_shared<Throwing>(mode);
    Pair pair = co_await connect(proto);
    send_all(pair.peer, "data");
    ::shutdown(pair.peer, SHUT_WR);
    co_await proto->done;
    ::close(pair.peer);
  });
  return proto;
}

}  // namespace

TEST(BufferedProtocol, test_get_buffer_error) {
  std::vector<std::string> messages;
  auto proto = provoke(Throwing::get_buffer_throws, messages);
  EXPECT_EQ(messages, std::vector<std::string>{"Fatal error: protocol.get_buffer() call failed."});
  EXPECT_TRUE(proto->updates.empty());
  EXPECT_EQ(what(proto->lost_exc), "LookupError");
}

TEST(BufferedProtocol, test_get_buffer_zerosized) {
  std::vector<std::string> messages;
  auto proto = provoke(Throwing::get_buffer_empty, messages);
  EXPECT_EQ(messages, std::vector<std::string>{"Fatal error: protocol.get_buffer() call failed."});
  EXPECT_TRUE(proto->updates.empty());
  EXPECT_EXC(proto->lost_exc, RuntimeError, "get_buffer() returned an empty buffer");
}

TEST(BufferedProtocol, test_buffer_updated_error) {
  std::vector<std::string> messages;
  auto proto = provoke(Throwing::buffer_updated_throws, messages);
  EXPECT_EQ(messages, std::vector<std::string>{"Fatal error: protocol.buffer_updated() call failed."});
  EXPECT_EQ(proto->updates, std::vector<std::size_t>{4});
  EXPECT_FALSE(proto->eof);  // nothing more after the failure
  EXPECT_EQ(what(proto->lost_exc), "LookupError");
}

TEST(BufferedProtocol, test_read_eof_received_error) {
  std::vector<std::string> messages;
  auto proto = provoke(Throwing::eof_throws, messages);
  EXPECT_EQ(messages, std::vector<std::string>{"Fatal error: protocol.eof_received() call failed."});
  EXPECT_EQ(proto->data, "data");
  EXPECT_TRUE(proto->eof);
}

TEST(BufferedProtocol, test_read_ready_conn_reset) {
  // A reset goes to connection_lost(), not to the exception handler.
  std::vector<std::string> messages = run_reporting([]() -> Coroutine<> {
    int port = 0;
    const int listener = net_test::raw_listener(port);
    auto proto = std::make_shared<Buffered>();
    auto factory = [proto] { return proto; };
    auto [t, p] = co_await create_connection(get_running_loop(), factory, "127.0.0.1", port);
    const int peer = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    linger lg{1, 0};
    ::setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(peer);  // RST
    co_await proto->done;
    EXPECT_TRUE(asyncio_test::has_errc(proto->lost_exc, std::errc::connection_reset)) << asyncio_test::what(proto->lost_exc);
    ::close(listener);
  });
  EXPECT_TRUE(messages.empty());
}

TEST(BufferedProtocol, test_proto_type_switch) {
  // A Protocol first, then a BufferedProtocol by set_protocol(), and back.
  run_net([](auto&) -> Coroutine<> {
    struct Plain : Protocol {
      std::string data;
      void data_received(std::string_view d) override { data += d; }
    };
    auto plain = std::make_shared<Plain>();
    Pair pair = co_await connect(plain);
    send_all(pair.peer, "data");
    EXPECT_TRUE(co_await run_until([&] { return plain->data == "data"; }));
    auto buffered = std::make_shared<Buffered>(4);
    pair.transport->set_protocol(buffered);
    send_all(pair.peer, "0123456789");
    EXPECT_TRUE(co_await run_until([&] { return buffered->data == "0123456789"; }));
    EXPECT_EQ(buffered->hints.front(), -1);
    for (std::size_t n : buffered->updates) EXPECT_LE(n, 4u);
    auto again = std::make_shared<Plain>();
    pair.transport->set_protocol(again);
    send_all(pair.peer, "xyz");
    EXPECT_TRUE(co_await run_until([&] { return again->data == "xyz"; }));
    EXPECT_EQ(buffered->data, "0123456789");
    pair.transport->close();
    co_await sleep(0);
    ::close(pair.peer);
  });
}

TEST(BufferedProtocol, SwitchInBufferUpdatedLosesNothing) {
  // The protocol is switched from inside buffer_updated() while more bytes
  // may already sit in a lent buffer: every byte arrives, once, in order.
  run_net([](auto&) -> Coroutine<> {
    struct Plain : Protocol {
      std::string data;
      void data_received(std::string_view d) override { data += d; }
    };
    auto first = std::make_shared<Buffered>(3);
    auto second = std::make_shared<Plain>();
    Pair pair = co_await connect(first);
    first->on_update = [p = first.get(), second] {
      if (p->data.size() >= 6) p->transport->set_protocol(second);
    };
    std::string sent;
    for (int i = 0; i < 200; ++i) sent += std::to_string(i) + ",";
    send_all(pair.peer, sent);
    EXPECT_TRUE(co_await run_until([&] { return first->data.size() + second->data.size() == sent.size(); }));
    EXPECT_EQ(first->data + second->data, sent);
    first->on_update = nullptr;
    pair.transport->close();
    co_await sleep(0);
    ::close(pair.peer);
  });
}

TEST(BufferedProtocol, PauseInBufferUpdatedHoldsTheRest) {
  run_net([](auto&) -> Coroutine<> {
    auto proto = std::make_shared<Buffered>(4);
    Pair pair = co_await connect(proto);
    proto->on_update = [p = proto.get()] { p->transport->pause_reading(); };
    send_all(pair.peer, "abcdefgh");
    EXPECT_TRUE(co_await run_until([&] { return proto->data.size() == 4; }));
    co_await sleep(0.01);
    EXPECT_EQ(proto->data, "abcd");  // paused: nothing more
    proto->on_update = nullptr;
    pair.transport->resume_reading();
    EXPECT_TRUE(co_await run_until([&] { return proto->data == "abcdefgh"; }));
    pair.transport->close();
    co_await proto->done;
    ::close(pair.peer);
  });
}

TEST(BufferedProtocol, FedThroughDataReceived) {
  // ≙ protocols._feed_data_to_buffered_proto: data_received() splits what
  // it gets over as many buffers as it takes.
  run_net([](auto&) -> Coroutine<> {
    Buffered proto(4);
    static_cast<Protocol&>(proto).data_received("0123456789");
    EXPECT_EQ(proto.data, "0123456789");
    EXPECT_EQ(proto.updates, (std::vector<std::size_t>{4, 4, 2}));
    EXPECT_EQ(proto.hints, (std::vector<std::ptrdiff_t>{10, 6, 2}));
    co_return;
  });
}
