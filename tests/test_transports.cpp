// Tests for include/asyncio/transports.hpp, protocols.hpp and the
// create_connection / create_server part of base_events.hpp
// (≙ the socket-transport parts of test_selector_events.py and
// test_base_events.py; spec §9). Not catalogue entries: the catalogue's
// area 9 is in test_streams.cpp and test_server.cpp.
#include <asyncio/transports.hpp>

#include <asyncio/base_events.hpp>
#include <asyncio/protocols.hpp>

#include "net_test.hpp"

#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::what;
using net_test::NetLoop;
using net_test::port_of;
using net_test::run_net;

namespace {

/// Records every callback, in order.
class Recorder : public Protocol {
 public:
  std::vector<std::string> events;
  std::string data;
  std::exception_ptr lost_exc;
  Transport* transport = nullptr;
  bool keep_open_on_eof = false;
  Future<> lost;

  Recorder() : lost(get_running_loop().create_future()) {}
  void connection_made(Transport& t) override {
    transport = &t;
    events.push_back("made");
  }
  void data_received(std::string_view d) override {
    if (events.empty() || events.back() != "data") events.push_back("data");
    data.append(d);
  }
  bool eof_received() override {
    events.push_back("eof");
    return keep_open_on_eof;
  }
  void connection_lost(std::exception_ptr exc) override {
    events.push_back("lost");
    lost_exc = exc;
    transport = nullptr;
    if (!lost.done()) lost.set_result();
  }
  void pause_writing() override { events.push_back("pause"); }
  void resume_writing() override { events.push_back("resume"); }
};

/// Echoes what it receives; closes when the peer sends EOF.
class Echo : public Protocol {
 public:
  void connection_made(Transport& t) override { transport_ = &t; }
  void data_received(std::string_view d) override { transport_->write(d); }
  void connection_lost(std::exception_ptr) override { transport_ = nullptr; }

 private:
  Transport* transport_ = nullptr;
};

std::shared_ptr<Echo> make_echo() { return std::make_shared<Echo>(); }

// Servers' protocols, for tests that look at the server side.
std::vector<std::shared_ptr<Recorder>> g_server_side;

std::shared_ptr<Recorder> make_recorder() {
  auto r = std::make_shared<Recorder>();
  g_server_side.push_back(r);
  return r;
}

/// The protocol of the server's `i`th connection, once it has seen
/// `events` callbacks (the accept is handled on a later pass).
Coroutine<std::shared_ptr<Recorder>> server_side(std::size_t i = 0, std::size_t events = 1) {
  while (g_server_side.size() <= i || g_server_side[i]->events.size() < events) co_await asyncio::sleep(0.001);
  co_return g_server_side[i];
}

}  // namespace

TEST(Transports, CallbackOrderAndEcho) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    Server server = co_await create_server(loop, make_echo, "127.0.0.1", 0);
    auto [transport, protocol] =
        co_await create_connection(loop, [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server));
    // connection_made() has run when create_connection() returns.
    EXPECT_EQ(protocol->events, std::vector<std::string>{"made"});
    EXPECT_EQ(protocol->transport, transport.get());
    EXPECT_TRUE(transport->is_reading());
    transport->write("hello ");
    transport->writelines({"wor", "", "ld"});
    while (protocol->data.size() < 11) co_await asyncio::sleep(0.001);
    EXPECT_EQ(protocol->data, "hello world");
    transport->write_eof();  // the echo closes on EOF: eof_received, then lost
    co_await protocol->lost;
    EXPECT_EQ(protocol->events, (std::vector<std::string>{"made", "data", "eof", "lost"}));
    EXPECT_FALSE(protocol->lost_exc);
    EXPECT_TRUE(transport->is_closing());
    EXPECT_FALSE(transport->get_protocol());
    EXPECT_THROW(transport->write("after write_eof"), RuntimeError);
    co_await net_test::close_server(server);
  });
}

TEST(Transports, ServerSideCallbacksAndAddresses) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    g_server_side.clear();
    Server server = co_await create_server(loop, make_recorder, "127.0.0.1", 0);
    auto [transport, protocol] = co_await create_connection(loop, make_echo, "127.0.0.1", port_of(server));
    auto srv = co_await server_side();
    auto client_name = std::any_cast<SocketAddress>(transport->get_extra_info("sockname"));
    auto client_peer = std::any_cast<SocketAddress>(transport->get_extra_info("peername"));
    auto server_name = std::any_cast<SocketAddress>(srv->transport->get_extra_info("sockname"));
    auto server_peer = std::any_cast<SocketAddress>(srv->transport->get_extra_info("peername"));
    EXPECT_EQ(client_name, server_peer);
    EXPECT_EQ(client_peer, server_name);
    EXPECT_EQ(server_name.port, port_of(server));
    // The server side sends; the client echoes; the server closes.
    srv->transport->write("ping");
    while (srv->data.size() < 4) co_await asyncio::sleep(0.001);
    EXPECT_EQ(srv->data, "ping");
    srv->transport->close();
    EXPECT_TRUE(srv->transport->is_closing());
    EXPECT_FALSE(srv->transport->is_reading());
    co_await srv->lost;
    EXPECT_EQ(srv->events, (std::vector<std::string>{"made", "data", "lost"}));
    co_await net_test::close_server(server);  // the connection is gone
    transport->close();
    g_server_side.clear();
  });
}

TEST(Transports, ConnectionRefused) {
  run_net([](NetLoop&) -> Coroutine<> {
    int port = 0;
    int fd = net_test::raw_listener(port);
    close(fd);  // nothing listens there now
    std::exception_ptr e;
    try {
      co_await create_connection(get_running_loop(), make_echo, "127.0.0.1", port);
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, std::system_error, "[Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(port) + ")");
    try {
      std::rethrow_exception(e);
    } catch (const std::system_error& x) {
      EXPECT_EQ(x.code(), std::errc::connection_refused);
    } catch (...) {
    }
    // The same through the streams API.
    e = nullptr;
    try {
      co_await open_connection("127.0.0.1", port);
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_TRUE(holds<std::system_error>(e));
  });
}

TEST(Transports, UnknownHost) {
  run_net([](NetLoop&) -> Coroutine<> {
    std::exception_ptr e;
    try {
      co_await create_connection(get_running_loop(), make_echo, "no-such-host.invalid", 80);
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_TRUE(holds<std::system_error>(e)) << what(e);
    EXPECT_EQ(what(e).rfind("[Errno ", 0), 0u) << what(e);
  });
}

TEST(Transports, GetAddrInfo) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    std::vector<AddrInfo> infos = co_await getaddrinfo(loop, "127.0.0.1", 80, {.type = SOCK_STREAM});
    EXPECT_EQ(infos.size(), 1u);
    EXPECT_EQ(infos.at(0).address.repr(), "('127.0.0.1', 80)");
    infos = co_await getaddrinfo(loop, "localhost", 8080, {.family = AF_INET, .type = SOCK_STREAM});
    EXPECT_FALSE(infos.empty());
    for (const auto& i : infos) {
      EXPECT_EQ(i.family, AF_INET);
      EXPECT_EQ(i.address.port, 8080);
    }
  });
}

TEST(Transports, IPv6Loopback) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    Server server(nullptr);
    bool have_v6 = true;
    try {
      server = co_await create_server(loop, make_echo, "::1", 0);
    } catch (const std::system_error&) {
      have_v6 = false;  // no IPv6 on this machine
    }
    if (!have_v6) co_return;
    auto [transport, protocol] =
        co_await create_connection(loop, [] { return std::make_shared<Recorder>(); }, "::1", port_of(server));
    auto peer = std::any_cast<SocketAddress>(transport->get_extra_info("peername"));
    EXPECT_EQ(peer.family, AF_INET6);
    EXPECT_EQ(peer.repr(), "('::1', " + std::to_string(port_of(server)) + ", 0, 0)");
    transport->write("v6");
    while (protocol->data.size() < 2) co_await asyncio::sleep(0.001);
    EXPECT_EQ(protocol->data, "v6");
    transport->close();
    co_await protocol->lost;
    co_await net_test::close_server(server);
  });
}

TEST(Transports, WriteBufferLimits) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    Server server = co_await create_server(loop, make_echo, "127.0.0.1", 0);
    auto [t, p] = co_await create_connection(loop, make_echo, "127.0.0.1", port_of(server));
    EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{16384, 65536}));
    t->set_write_buffer_limits(std::nullopt, 100);
    EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{100, 400}));
    t->set_write_buffer_limits(1000);
    EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{250, 1000}));
    EXPECT_THROW_MSG(t->set_write_buffer_limits(1, 2), std::invalid_argument, "high (1) must be >= low (2) must be >= 0");
    t->set_write_buffer_limits();
    EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{16384, 65536}));
    t->close();
    co_await net_test::close_server(server);
  });
}

TEST(Transports, FlowControlPauseAndResumeWriting) {
  // The server stops reading; the client writes until its buffer is over
  // the high-water mark (pause_writing), then the server reads again and the
  // buffer drains (resume_writing). Every byte arrives, in order.
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    g_server_side.clear();
    Server server = co_await create_server(loop, make_recorder, "127.0.0.1", 0);
    auto [t, p] = co_await create_connection(loop, [] { return std::make_shared<Recorder>(); }, "127.0.0.1",
                                             port_of(server));
    auto srv = co_await server_side();
    srv->transport->pause_reading();
    EXPECT_FALSE(srv->transport->is_reading());
    const std::string chunk = net_test::pattern(64 * 1024, 3);
    std::string sent;
    for (int i = 0; i < 2000 && t->get_write_buffer_size() <= 65536; ++i) {
      t->write(chunk);
      sent += chunk;
      co_await asyncio::sleep(0);
    }
    EXPECT_GT(t->get_write_buffer_size(), 65536u);
    EXPECT_EQ(p->events, (std::vector<std::string>{"made", "pause"}));
    srv->transport->resume_reading();
    while (srv->data.size() < sent.size()) co_await asyncio::sleep(0.001);
    EXPECT_TRUE(srv->data == sent);
    EXPECT_EQ(t->get_write_buffer_size(), 0u);
    EXPECT_EQ(p->events, (std::vector<std::string>{"made", "pause", "resume"}));
    t->close();
    co_await srv->lost;
    co_await net_test::close_server(server);
    g_server_side.clear();
  });
}

TEST(Transports, PauseReadingHoldsDataAndEof) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    g_server_side.clear();
    Server server = co_await create_server(loop, make_recorder, "127.0.0.1", 0);
    auto [t, p] = co_await create_connection(loop, make_echo, "127.0.0.1", port_of(server));
    auto srv = co_await server_side();
    srv->transport->pause_reading();
    t->write("held");
    t->write_eof();
    co_await asyncio::sleep(0.02);
    EXPECT_EQ(srv->events, std::vector<std::string>{"made"});
    srv->transport->resume_reading();
    co_await srv->lost;
    EXPECT_EQ(srv->data, "held");
    EXPECT_EQ(srv->events, (std::vector<std::string>{"made", "data", "eof", "lost"}));
    co_await net_test::close_server(server);
    g_server_side.clear();
  });
}

TEST(Transports, HalfCloseKeepsWriting) {
  // eof_received() returning true keeps the transport open for writing.
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    g_server_side.clear();
    Server server = co_await create_server(
        loop,
        [] {
          auto r = make_recorder();
          r->keep_open_on_eof = true;
          return r;
        },
        "127.0.0.1", 0);
    auto [t, p] = co_await create_connection(loop, [] { return std::make_shared<Recorder>(); }, "127.0.0.1",
                                             port_of(server));
    t->write("question");
    t->write_eof();
    auto srv = co_await server_side(0, 3);
    EXPECT_EQ(srv->events, (std::vector<std::string>{"made", "data", "eof"}));
    EXPECT_FALSE(srv->transport->is_closing());
    srv->transport->write("answer to " + srv->data);
    srv->transport->close();
    co_await p->lost;
    EXPECT_EQ(p->data, "answer to question");
    EXPECT_EQ(p->events, (std::vector<std::string>{"made", "data", "eof", "lost"}));
    co_await net_test::close_server(server);
    g_server_side.clear();
  });
}

TEST(Transports, CloseFlushesAbortDoesNot) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    g_server_side.clear();
    Server server = co_await create_server(loop, make_recorder, "127.0.0.1", 0);
    // close(): everything written arrives, then EOF.
    auto [t, p] = co_await create_connection(loop, make_echo, "127.0.0.1", port_of(server));
    const std::string big = net_test::pattern(4 * 1024 * 1024, 5);
    t->write(big);
    t->close();
    auto first = co_await server_side();
    co_await first->lost;
    EXPECT_TRUE(first->data == big);
    EXPECT_EQ(first->events.back(), "lost");
    // abort(): the buffer is dropped; connection_lost(nullptr) follows.
    auto [t2, p2] = co_await create_connection(loop, [] { return std::make_shared<Recorder>(); }, "127.0.0.1",
                                               port_of(server));
    t2->write(big);
    t2->abort();
    EXPECT_EQ(t2->get_write_buffer_size(), 0u);
    co_await p2->lost;
    EXPECT_FALSE(p2->lost_exc);
    auto second = co_await server_side(1);
    co_await second->lost;
    EXPECT_LE(second->data.size(), big.size());
    co_await net_test::close_server(server);
    g_server_side.clear();
  });
}

namespace {

class Throwing : public Protocol {
 public:
  std::exception_ptr lost_exc;
  Future<> lost = get_running_loop().create_future();
  void data_received(std::string_view) override { throw std::domain_error("bad data"); }
  void connection_lost(std::exception_ptr exc) override {
    lost_exc = exc;
    lost.set_result();
  }
};

class MadeThrows : public Protocol {
 public:
  void connection_made(Transport&) override { throw std::logic_error("made failed"); }
};

}  // namespace

TEST(Transports, ProtocolExceptionsAreReported) {
  std::vector<asyncio::ExceptionContext> calls;
  {
    NetLoop t;
    t.loop.run_until_complete([](NetLoop&) -> Coroutine<> {
      EventLoop& loop = get_running_loop();
      Server server = co_await create_server(loop, make_echo, "127.0.0.1", 0);
      auto [tr, p] = co_await create_connection(loop, [] { return std::make_shared<Throwing>(); }, "127.0.0.1",
                                                port_of(server));
      tr->write("x");
      co_await p->lost;
      // data_received's exception closes the transport and reaches connection_lost().
      EXPECT_TRUE(holds<std::domain_error>(p->lost_exc));
      // connection_made's goes to the handler; the connection stays usable.
      auto [tr2, p2] = co_await create_connection(loop, [] { return std::make_shared<MadeThrows>(); }, "127.0.0.1",
                                                  port_of(server));
      EXPECT_FALSE(tr2->is_closing());
      tr2->close();
      co_await net_test::close_server(server);
    }(t));
    t.run_briefly();
    t.loop.close();
    calls = t.log.calls;
  }
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].message, "Fatal error: protocol.data_received() call failed.");
  EXPECT_TRUE(holds<std::domain_error>(calls[0].exception));
  EXPECT_EQ(calls[1].message, "Exception in callback <Handle>");
  EXPECT_TRUE(holds<std::logic_error>(calls[1].exception));
}

TEST(Transports, FactoryErrorOnAccept) {
  std::vector<std::string> messages;
  {
    NetLoop t;
    t.loop.run_until_complete([](NetLoop&) -> Coroutine<> {
      EventLoop& loop = get_running_loop();
      Server server = co_await create_server(
          loop, []() -> std::shared_ptr<Protocol> { throw std::runtime_error("no protocol for you"); },
          "127.0.0.1", 0);
      auto [tr, p] = co_await create_connection(loop, [] { return std::make_shared<Recorder>(); }, "127.0.0.1",
                                                port_of(server));
      co_await p->lost;  // the server closed the connection
      EXPECT_EQ(p->events.back(), "lost");
      co_await net_test::close_server(server);
    }(t));
    t.loop.close();
    messages = t.log.messages();
  }
  EXPECT_EQ(messages, std::vector<std::string>{"Error on transport creation for incoming connection"});
}

TEST(Transports, PeerResetGivesConnectionResetError) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    g_server_side.clear();
    Server server = co_await create_server(loop, make_recorder, "127.0.0.1", 0);
    auto [t, p] = co_await create_connection(loop, make_echo, "127.0.0.1", port_of(server));
    auto srv = co_await server_side();
    // The client resets: the server sees ECONNRESET in connection_lost().
    net_test::set_linger_zero(std::any_cast<TransportSocket>(t->get_extra_info("socket")).fileno());
    t->abort();
    co_await srv->lost;
    try {
      if (srv->lost_exc) std::rethrow_exception(srv->lost_exc);
      ADD_FAILURE() << "no exception";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::connection_reset);
      EXPECT_STREQ(e.what(), "[Errno 104] Connection reset by peer");
    }
    co_await net_test::close_server(server);
    g_server_side.clear();
  });
}

TEST(Transports, CancelConnectAtEveryStage) {
  // Cancelled after 0, 1, 2... passes: during getaddrinfo, the connect, or
  // after; whichever it was, nothing is left open (run_net counts fds).
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    Server server = co_await create_server(loop, make_echo, "127.0.0.1", 0);
    const int port = port_of(server);
    int cancelled = 0, connected = 0;
    for (int passes = 0; passes < 12; ++passes) {
      Task<std::pair<StreamReader, StreamWriter>> task = create_task(open_connection("localhost", port, {.family = AF_INET}));
      for (int i = 0; i < passes; ++i) co_await asyncio::sleep(0);
      task.cancel();
      try {
        co_await task;
        ++connected;
        task.result().second.close();
      } catch (const CancelledError&) {
        ++cancelled;
      }
    }
    EXPECT_GT(cancelled, 0);
    EXPECT_EQ(cancelled + connected, 12);
    co_await asyncio::sleep(0.01);
    co_await net_test::close_server(server);
  });
}

TEST(Transports, CancelPendingConnect) {
  // A listener whose accept queue is full drops the SYN: the connect hangs
  // until cancelled; no socket is left behind.
  int port = 0;
  int listener = net_test::raw_listener(port);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(listen(listener, 0), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 8; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(fd);
  }
  static int s_port;
  s_port = port;
  run_net([](NetLoop&) -> Coroutine<> {
    Task<std::pair<StreamReader, StreamWriter>> task = create_task(open_connection("127.0.0.1", s_port));
    co_await asyncio::sleep(0.05);
    const bool pending = !task.done();
    task.cancel();
    try {
      co_await task;
      task.result().second.close();
    } catch (const CancelledError&) {
      EXPECT_TRUE(pending);
    } catch (const std::system_error&) {
    }
  });
  for (int fd : fillers) close(fd);
  close(listener);
}

TEST(Transports, LoopCloseClosesOpenConnections) {
  // Connections and servers left open are closed by the loop's close().
  const int before = net_test::count_fds();
  {
    NetLoop t;
    t.loop.run_until_complete([](NetLoop&) -> Coroutine<> {
      EventLoop& loop = get_running_loop();
      Server server = co_await create_server(loop, make_echo, "127.0.0.1", 0);
      for (int i = 0; i < 5; ++i) {
        auto [tr, p] = co_await create_connection(loop, make_echo, "127.0.0.1", port_of(server));
        tr->write("left open");
      }
      co_await asyncio::sleep(0.01);
    }(t));
    t.loop.close();
    EXPECT_TRUE(t.log.calls.empty());
  }
  EXPECT_EQ(net_test::count_fds(), before);
}

TEST(Transports, TransportOutlivesItsLoop) {
  std::shared_ptr<Transport> kept;
  {
    NetLoop t;
    kept = t.loop.run_until_complete([](NetLoop&) -> Coroutine<std::shared_ptr<Transport>> {
      EventLoop& loop = get_running_loop();
      Server server = co_await create_server(loop, make_echo, "127.0.0.1", 0);
      auto [tr, p] = co_await create_connection(loop, make_echo, "127.0.0.1", port_of(server));
      co_return tr;
    }(t));
    t.loop.close();
  }
  EXPECT_TRUE(kept->is_closing());
  kept->write("nothing happens");
  kept->close();
  kept->abort();
  EXPECT_EQ(std::any_cast<TransportSocket>(kept->get_extra_info("socket")).fileno(), -1);
}

TEST(Transports, UnixConnection) {
  run_net([](NetLoop&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    const std::string path = net_test::unix_path("transport");
    Server server = co_await create_unix_server(loop, make_echo, path);
    auto [t, p] = co_await create_unix_connection(loop, [] { return std::make_shared<Recorder>(); }, path);
    auto peer = std::any_cast<SocketAddress>(t->get_extra_info("peername"));
    EXPECT_EQ(peer.family, AF_UNIX);
    EXPECT_EQ(peer.host, path);
    EXPECT_EQ(peer.repr(), "'" + path + "'");
    t->write("over a unix socket");
    while (p->data.size() < 18) co_await asyncio::sleep(0.001);
    EXPECT_EQ(p->data, "over a unix socket");
    t->close();
    co_await p->lost;
    co_await net_test::close_server(server);
    // No server there any more: the file is gone.
    std::exception_ptr e;
    try {
      co_await create_unix_connection(loop, make_echo, path);
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_TRUE(holds<std::system_error>(e));
  });
}
