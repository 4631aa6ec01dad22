// asyncio-cpp: SPDX-License-Identifier: MIT
// Datagram endpoints: CPython's datagram tests (test_events.py,
// test_base_events.py, test_selector_events.py), named after them, on
// real loopback and Unix sockets.
#include <asyncio/base_events.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/tasks.hpp>

#include "net_test.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <fcntl.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <vector>

using namespace asyncio;

using asyncio_test::what;
using net_test::run_net;

namespace {

/// ≙ test_events.MyDatagramProto: its states asserted on every callback.
struct MyDatagramProto : DatagramProtocol {
  std::string state = "INITIAL";
  std::size_t nbytes = 0;
  DatagramTransport* transport = nullptr;
  std::vector<std::pair<std::string, SocketAddress>> received;
  std::vector<std::exception_ptr> errors;
  Future<> done;
  bool lost_with_error = false;
  int paused = 0;
  int resumed = 0;

  MyDatagramProto() : done(get_running_loop().create_future()) {}
  void connection_made(DatagramTransport& t) override {
    EXPECT_EQ(state, "INITIAL");
    transport = &t;
    state = "INITIALIZED";
  }
  void datagram_received(std::string_view data, const SocketAddress& addr) override {
    EXPECT_EQ(state, "INITIALIZED");
    nbytes += data.size();
    received.emplace_back(std::string(data), addr);
  }
  void error_received(std::exception_ptr exc) override {
    EXPECT_EQ(state, "INITIALIZED");
    errors.push_back(exc);
  }
  void connection_lost(std::exception_ptr exc) override {
    EXPECT_EQ(state, "INITIALIZED");
    state = "CLOSED";
    lost_with_error = static_cast<bool>(exc);
    if (!done.done()) done.set_result();
  }
  void pause_writing() override { ++paused; }
  void resume_writing() override { ++resumed; }
};

/// Echoes "resp:" + data to the sender (≙ TestMyDatagramProto).
struct EchoProto : MyDatagramProto {
  void datagram_received(std::string_view data, const SocketAddress& addr) override {
    MyDatagramProto::datagram_received(data, addr);
    transport->sendto("resp:" + std::string(data), addr);
  }
};

template <class P>
std::shared_ptr<P> make() {
  return std::make_shared<P>();
}

/// Runs the loop until `pred()` or ~5 s (≙ test_utils.run_until).
template <class Pred>
Coroutine<bool> run_until(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) co_await sleep(0.001);
  co_return pred();
}

SocketAddress sockname(const std::shared_ptr<DatagramTransport>& t) {
  return std::any_cast<SocketAddress>(t->get_extra_info("sockname"));
}

/// A bound, non-blocking datagram socket of `family` on loopback.
int bound_udp_socket(int family = AF_INET) {
  int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    len = sizeof *in6;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool ipv6_enabled() {
  int fd = bound_udp_socket(AF_INET6);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

Coroutine<> endpoint_echo(const char* host, int family) {
  EventLoop& loop = get_running_loop();
  auto [s_transport, server] =
      co_await create_datagram_endpoint(loop, make<EchoProto>, {.local_addr = {host, 0}, .family = family});
  const SocketAddress addr = sockname(s_transport);
  EXPECT_EQ(addr.family, family);
  EXPECT_EQ(server->state, "INITIALIZED");
  EXPECT_EQ(server->transport, s_transport.get());

  auto [transport, client] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>,
                                                               {.remote_addr = {addr.host, addr.port}});
  EXPECT_EQ(client->state, "INITIALIZED");
  EXPECT_EQ(client->transport, transport.get());
  transport->sendto("xxx");
  EXPECT_TRUE(co_await run_until([&] { return server->nbytes > 0; }));
  EXPECT_EQ(server->nbytes, 3u);
  EXPECT_TRUE(co_await run_until([&] { return client->nbytes > 0; }));
  EXPECT_EQ(client->nbytes, 8u);
  EXPECT_EQ(client->received.at(0).first, "resp:xxx");
  EXPECT_EQ(client->received.at(0).second, addr);
  EXPECT_EQ(std::any_cast<SocketAddress>(transport->get_extra_info("peername")), addr);
  EXPECT_TRUE(transport->get_extra_info("sockname").has_value());

  transport->close();
  co_await client->done;
  EXPECT_EQ(client->state, "CLOSED");
  EXPECT_FALSE(client->lost_with_error);
  s_transport->close();
  co_await server->done;
}

}  // namespace

TEST(Datagram, test_create_datagram_endpoint) {
  run_net([](auto&) { return endpoint_echo("127.0.0.1", AF_INET); });
}

TEST(Datagram, test_create_datagram_endpoint_ipv6) {
  if (!ipv6_enabled()) GTEST_SKIP() << "IPv6 not supported or enabled";
  run_net([](auto&) { return endpoint_echo("::1", AF_INET6); });
}

TEST(Datagram, test_create_datagram_endpoint_sock) {
  run_net([](auto&) -> Coroutine<> {
    const int fd = bound_udp_socket();
    auto [tr, pr] = co_await create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                                      {.sock = fd});
    EXPECT_EQ(std::any_cast<TransportSocket>(tr->get_extra_info("socket")).fileno(), fd);
    tr->close();
    co_await pr->done;
    // The transport owned the socket and closed it.
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  });
}

TEST(Datagram, test_datagram_send_to_non_listening_address) {
  // gh-91227: receiving must go on after sending to a port nobody listens on.
  run_net([](auto&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    auto [t1, p1] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>,
                                                      {.sock = bound_udp_socket()});
    auto [t2, p2] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>,
                                                      {.sock = bound_udp_socket()});
    const SocketAddress a1 = sockname(t1), a2 = sockname(t2);
    // A port that was just free.
    const int closed_fd = bound_udp_socket();
    const SocketAddress nobody = TransportSocket(closed_fd).getsockname();
    ::close(closed_fd);

    t1->sendto("a", a2);
    EXPECT_TRUE(co_await run_until([&] { return p2->received.size() == 1; }));
    t2->sendto("b", a1);
    EXPECT_TRUE(co_await run_until([&] { return p1->received.size() == 1; }));
    t1->sendto("c", nobody);
    t1->sendto("d", a2);
    EXPECT_TRUE(co_await run_until([&] { return p2->received.size() == 2; }));
    t2->sendto("e", a1);
    EXPECT_TRUE(co_await run_until([&] { return p1->received.size() == 2; }));
    EXPECT_EQ(p1->received.at(1).first, "e");
    EXPECT_EQ(p2->received.at(1).first, "d");
    t1->close();
    t2->close();
    co_await p1->done;
    co_await p2->done;
  });
}

TEST(Datagram, test_create_datagram_endpoint_wrong_sock) {
  run_net([](auto&) -> Coroutine<> {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto e = co_await asyncio_test::raises(
        create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>, {.sock = fd}));
    EXPECT_TRUE(asyncio_test::holds<std::invalid_argument>(e));
    EXPECT_EQ(what(e).rfind("A datagram socket was expected, got <", 0), 0u) << what(e);
    ::close(fd);  // still the caller's
  });
}

TEST(Datagram, test_create_datagram_endpoint_noaddr_nofamily) {
  run_net([](auto&) -> Coroutine<> {
    auto e = co_await asyncio_test::raises(create_datagram_endpoint(get_running_loop(), make<DatagramProtocol>));
    EXPECT_EXC(e, std::invalid_argument, "unexpected address family");
  });
}

TEST(Datagram, test_create_datagram_endpoint_noaddr_family) {
  // No address, a family: an unbound socket that can send.
  run_net([](auto&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    auto [server_t, server] =
        co_await create_datagram_endpoint(loop, make<MyDatagramProto>, {.local_addr = {"127.0.0.1", 0}});
    auto [t, p] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>, {.family = AF_INET});
    t->sendto("hello", sockname(server_t));
    EXPECT_TRUE(co_await run_until([&] { return server->nbytes == 5; }));
    t->close();
    server_t->close();
    co_await p->done;
    co_await server->done;
  });
}

TEST(Datagram, test_create_datagram_endpoint_sock_sockopts) {
  run_net([](auto&) -> Coroutine<> {
    const int fd = bound_udp_socket();
    auto e = co_await asyncio_test::raises(create_datagram_endpoint(
        get_running_loop(), make<MyDatagramProto>, {.local_addr = {"127.0.0.1", 0}, .sock = fd}));
    EXPECT_EXC(e, std::invalid_argument,
               "socket modifier keyword arguments can not be used when sock is specified. "
               "(local_addr=('127.0.0.1', 0))");
    e = co_await asyncio_test::raises(create_datagram_endpoint(
        get_running_loop(), make<MyDatagramProto>,
        {.remote_addr = {"127.0.0.1", 1}, .family = AF_INET, .reuse_port = true, .allow_broadcast = true, .sock = fd}));
    EXPECT_EXC(e, std::invalid_argument,
               "socket modifier keyword arguments can not be used when sock is specified. "
               "(remote_addr=('127.0.0.1', 1), family=2, reuse_port=True, allow_broadcast=True)");
    ::close(fd);
  });
}

TEST(Datagram, test_create_datagram_endpoint_no_matching_family) {
  run_net([](auto&) -> Coroutine<> {
    auto e = co_await asyncio_test::raises(
        create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                 {.local_addr = {"::1", 0}, .remote_addr = {"127.0.0.1", 0}}));
    EXPECT_EXC(e, std::invalid_argument, "can not get address information");
  });
}

TEST(Datagram, test_create_datagram_endpoint_cant_bind) {
  run_net([](auto&) -> Coroutine<> {
    const int fd = bound_udp_socket();
    const int port = TransportSocket(fd).getsockname().port;
    auto e = co_await asyncio_test::raises(create_datagram_endpoint(
        get_running_loop(), make<MyDatagramProto>, {.local_addr = {"127.0.0.1", port}}));
    EXPECT_TRUE(asyncio_test::holds<std::system_error>(e)) << what(e);
    try {
      std::rethrow_exception(e);
    } catch (const std::system_error& err) {
      EXPECT_EQ(err.code(), std::errc::address_in_use);
    }
    ::close(fd);
  });
}

TEST(Datagram, test_create_datagram_endpoint_connect_err) {
  // Connecting to the broadcast address needs SO_BROADCAST: EACCES.
  run_net([](auto&) -> Coroutine<> {
    auto e = co_await asyncio_test::raises(create_datagram_endpoint(
        get_running_loop(), make<MyDatagramProto>, {.remote_addr = {"255.255.255.255", 9}}));
    EXPECT_TRUE(asyncio_test::holds<std::system_error>(e)) << what(e);
  });
}

TEST(Datagram, test_create_datagram_endpoint_allow_broadcast) {
  run_net([](auto&) -> Coroutine<> {
    auto [t, p] = co_await create_datagram_endpoint(
        get_running_loop(), make<MyDatagramProto>,
        {.remote_addr = {"255.255.255.255", 9}, .allow_broadcast = true});
    auto sock = std::any_cast<TransportSocket>(t->get_extra_info("socket"));
    EXPECT_EQ(sock.getsockopt(SOL_SOCKET, SO_BROADCAST), 1);
    // Not connected (CPython skips the connect): no peername.
    EXPECT_FALSE(t->get_extra_info("peername").has_value());
    t->close();
    co_await p->done;
  });
}

TEST(Datagram, test_create_datagram_endpoint_sockopts) {
  run_net([](auto&) -> Coroutine<> {
    auto [t, p] = co_await create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                                    {.local_addr = {"127.0.0.1", 0}, .reuse_port = true});
    auto sock = std::any_cast<TransportSocket>(t->get_extra_info("socket"));
    EXPECT_EQ(sock.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
    EXPECT_EQ(sock.getsockopt(SOL_SOCKET, SO_BROADCAST), 0);
    EXPECT_EQ(sock.type(), SOCK_DGRAM);
    t->close();
    co_await p->done;
  });
}

TEST(Datagram, test_create_datagram_endpoint_sock_unix) {
  run_net([](auto&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    const std::string path = net_test::unix_path("dgram-server");
    const std::string client_path = net_test::unix_path("dgram-client");
    auto [st, server] = co_await create_datagram_endpoint(loop, make<EchoProto>,
                                                          {.local_addr = {path}, .family = AF_UNIX});
    auto [ct, client] = co_await create_datagram_endpoint(
        loop, make<MyDatagramProto>, {.local_addr = {client_path}, .remote_addr = {path}, .family = AF_UNIX});
    EXPECT_EQ(sockname(st).host, path);
    ct->sendto("ping");
    EXPECT_TRUE(co_await run_until([&] { return client->nbytes > 0; }));
    EXPECT_EQ(server->received.at(0).second.host, client_path);
    EXPECT_EQ(client->received.at(0).first, "resp:ping");
    EXPECT_EQ(client->received.at(0).second.host, path);
    ct->close();
    st->close();
    co_await client->done;
    co_await server->done;
    ::unlink(path.c_str());
    ::unlink(client_path.c_str());
  });
}

TEST(Datagram, test_create_datagram_endpoint_existing_sock_unix) {
  // A stale socket file at the path is replaced.
  run_net([](auto&) -> Coroutine<> {
    const std::string path = net_test::unix_path("dgram-stale");
    {
      const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_un un{};
      un.sun_family = AF_UNIX;
      std::memcpy(un.sun_path, path.data(), path.size());
      EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un), 0);
      ::close(fd);
    }
    auto [t, p] = co_await create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                                    {.local_addr = {path}, .family = AF_UNIX});
    EXPECT_EQ(sockname(t).host, path);
    t->close();
    co_await p->done;
    ::unlink(path.c_str());
  });
}

TEST(Datagram, test_sendto_connected_addr) {
  run_net([](auto&) -> Coroutine<> {
    auto [t, p] = co_await create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                                    {.remote_addr = {"127.0.0.1", 9}});
    EXPECT_THROW_MSG(t->sendto("data", SocketAddress{AF_INET, "127.0.0.1", 1}), std::invalid_argument,
                     "Invalid address: must be None or ('127.0.0.1', 9)");
    t->close();
    co_await p->done;
  });
}

TEST(Datagram, test_sendto_closing) {
  // After close() and connection_lost(), sends are dropped without a report.
  run_net([](auto&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    auto [st, server] =
        co_await create_datagram_endpoint(loop, make<MyDatagramProto>, {.local_addr = {"127.0.0.1", 0}});
    const SocketAddress addr = sockname(st);
    auto [t, p] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>,
                                                    {.remote_addr = {addr.host, addr.port}});
    t->close();
    EXPECT_TRUE(t->is_closing());
    co_await p->done;
    t->sendto("data");
    t->sendto("data", addr);
    co_await sleep(0.01);
    EXPECT_EQ(server->nbytes, 0u);
    EXPECT_TRUE(p->errors.empty());
    st->close();
    co_await server->done;
  });
}

TEST(Datagram, test_sendto_error_received) {
  // A send the kernel refuses goes to error_received(), the endpoint stays.
  run_net([](auto&) -> Coroutine<> {
    auto [t, p] = co_await create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                                    {.local_addr = {"127.0.0.1", 0}});
    t->sendto("data", SocketAddress{AF_INET, "127.0.0.1", 0});  // port 0: EINVAL
    CO_ASSERT_EQ(p->errors.size(), 1u);
    EXPECT_TRUE(asyncio_test::holds<std::system_error>(p->errors[0])) << what(p->errors[0]);
    EXPECT_FALSE(t->is_closing());
    t->close();
    co_await p->done;
  });
}

TEST(Datagram, test_sendto_error_received_connected) {
  // The ICMP "port unreachable" of a connected endpoint arrives as
  // ConnectionRefusedError to error_received(), in order.
  run_net([](auto&) -> Coroutine<> {
    const int closed_fd = bound_udp_socket();
    const SocketAddress nobody = TransportSocket(closed_fd).getsockname();
    ::close(closed_fd);
    auto [t, p] = co_await create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                                    {.remote_addr = {nobody.host, nobody.port}});
    t->sendto("data");
    EXPECT_TRUE(co_await run_until([&] { return !p->errors.empty(); }));
    CO_ASSERT_FALSE(p->errors.empty());
    try {
      std::rethrow_exception(p->errors[0]);
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::connection_refused);
    }
    EXPECT_FALSE(t->is_closing());
    t->close();
    co_await p->done;
  });
}

TEST(Datagram, test_sendto_buffer) {
  // A Unix datagram socket pair has flow control: once the peer's queue
  // is full the kernel says EAGAIN. What sendto() could not send is
  // buffered (8 bytes of header counted per datagram, as CPython),
  // pause_writing() comes over the high mark, and everything arrives, in
  // order, once the peer reads; resume_writing() follows.
  run_net([](auto&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    auto [t, p] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>, {.sock = sv[0]});
    t->set_write_buffer_limits(4096);
    const std::string payload(1000, 'x');
    int sent = 0;
    while (t->get_write_buffer_size() == 0 && sent < 100000) {
      t->sendto(std::to_string(sent) + ":" + payload);
      ++sent;
    }
    CO_ASSERT_GT(t->get_write_buffer_size(), 0u);
    EXPECT_EQ(t->get_write_buffer_size(), std::to_string(sent - 1).size() + 1 + payload.size() + 8);
    for (int i = 0; i < 10; ++i) t->sendto(std::to_string(sent++) + ":" + payload);
    EXPECT_EQ(p->paused, 1);
    // The peer, another endpoint on the other end, reads it all.
    auto [rt, rp] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>, {.sock = sv[1]});
    EXPECT_TRUE(co_await run_until([&] { return rp->received.size() == static_cast<std::size_t>(sent); }));
    CO_ASSERT_EQ(rp->received.size(), static_cast<std::size_t>(sent));
    for (int i = 0; i < sent; ++i) CO_ASSERT_EQ(rp->received[i].first, std::to_string(i) + ":" + payload);
    EXPECT_EQ(t->get_write_buffer_size(), 0u);
    EXPECT_EQ(p->resumed, 1);
    EXPECT_TRUE(p->errors.empty());
    t->close();
    rt->close();
    co_await p->done;
    co_await rp->done;
  });
}

TEST(Datagram, test_sendto_ready_closing) {
  // close() with datagrams buffered waits for them; abort() does not.
  run_net([](auto&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    auto [t, p] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>, {.sock = sv[0]});
    int sent = 0;
    while (t->get_write_buffer_size() == 0 && sent < 100000) t->sendto(std::to_string(sent++));
    t->close();
    co_await sleep(0.01);
    EXPECT_NE(p->state, "CLOSED");  // still flushing
    auto [rt, rp] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>, {.sock = sv[1]});
    co_await p->done;
    EXPECT_FALSE(p->lost_with_error);
    EXPECT_TRUE(co_await run_until([&] { return rp->received.size() == static_cast<std::size_t>(sent); }));
    EXPECT_EQ(rp->received.size(), static_cast<std::size_t>(sent));
    rt->abort();
    co_await rp->done;
  });
}

TEST(Datagram, test_abort_with_buffer) {
  run_net([](auto&) -> Coroutine<> {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    auto [t, p] = co_await create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                                    {.sock = sv[0]});
    int sent = 0;
    while (t->get_write_buffer_size() == 0 && sent < 100000) t->sendto(std::to_string(sent++));
    t->abort();
    EXPECT_EQ(t->get_write_buffer_size(), 0u);
    co_await p->done;
    ::close(sv[1]);
  });
}

TEST(Datagram, ProtocolExceptionIsReportedAndDeliveryGoesOn) {
  // ≙ _read_ready: datagram_received() raising is reported by the loop,
  // the endpoint stays open and the next datagram is delivered.
  net_test::NetLoop t;
  struct Raising : MyDatagramProto {
    void datagram_received(std::string_view data, const SocketAddress& addr) override {
      MyDatagramProto::datagram_received(data, addr);
      if (data == "boom") throw std::runtime_error("boom");
    }
  };
  t.loop.run_until_complete([]() -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    auto [st, server] = co_await create_datagram_endpoint(loop, make<Raising>,
                                                          {.local_addr = {"127.0.0.1", 0}});
    auto [ct, client] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>,
                                                          {.remote_addr = {sockname(st).host, sockname(st).port}});
    ct->sendto("boom");
    ct->sendto("next");
    EXPECT_TRUE(co_await run_until([&] { return server->received.size() == 2; }));
    EXPECT_FALSE(st->is_closing());
    ct->close();
    st->close();
    co_await client->done;
    co_await server->done;
  }());
  ASSERT_EQ(t.log.calls.size(), 1u);
  EXPECT_EQ(what(t.log.calls[0].exception), "boom");
  t.loop.close();
}

TEST(Datagram, TenThousandDatagramsEchoedInOrder) {
  // 10,000 datagrams through a loopback echo, a window of 32 in flight so
  // that no receive queue overflows: none lost, none reordered.
  run_net([](auto&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    auto [st, server] =
        co_await create_datagram_endpoint(loop, make<EchoProto>, {.local_addr = {"127.0.0.1", 0}});
    const SocketAddress addr = sockname(st);
    auto [ct, client] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>,
                                                          {.remote_addr = {addr.host, addr.port}});
    constexpr int total = 10000;
    int sent = 0;
    for (int spins = 0; client->received.size() < total && spins < 200000; ++spins) {
      while (sent < total && sent - static_cast<int>(client->received.size()) < 32) ct->sendto(std::to_string(sent++));
      co_await sleep(0);
    }
    CO_ASSERT_EQ(client->received.size(), static_cast<std::size_t>(total));
    for (int i = 0; i < total; ++i) CO_ASSERT_EQ(client->received[i].first, "resp:" + std::to_string(i));
    ct->close();
    st->close();
    co_await client->done;
    co_await server->done;
  });
}

TEST(Datagram, EmptyAndLargestDatagrams) {
  // An empty datagram is one call with no data; 65507 bytes (the UDP
  // maximum over IPv4) arrive whole.
  run_net([](auto&) -> Coroutine<> {
    EventLoop& loop = get_running_loop();
    auto [st, server] =
        co_await create_datagram_endpoint(loop, make<EchoProto>, {.local_addr = {"127.0.0.1", 0}});
    const SocketAddress addr = sockname(st);
    auto [ct, client] = co_await create_datagram_endpoint(loop, make<MyDatagramProto>,
                                                          {.remote_addr = {addr.host, addr.port}});
    std::string big(65507 - 5, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
    ct->sendto("");
    ct->sendto(big);
    EXPECT_TRUE(co_await run_until([&] { return client->received.size() == 2; }));
    CO_ASSERT_EQ(server->received.size(), 2u);
    EXPECT_EQ(server->received[0].first, "");
    EXPECT_EQ(client->received.at(0).first, "resp:");
    EXPECT_EQ(client->received.at(1).first, "resp:" + big);
    ct->close();
    st->close();
    co_await client->done;
    co_await server->done;
  });
}

// ---- against a Python 3.13 asyncio peer --------------------------------------

namespace {

bool have_python() {
  static const bool ok = std::system("python3 -c 'import asyncio' >/dev/null 2>&1") == 0;
  return ok;
}

// A Python asyncio UDP echo server (CPython's own example, protocol side):
// prints its port, echoes each datagram reversed, exits on b"QUIT".
const char* const python_echo_server = R"PY(
import asyncio
class Echo(asyncio.DatagramProtocol):
    def __init__(self, done): self.done = done
    def connection_made(self, transport): self.transport = transport
    def datagram_received(self, data, addr):
        if data == b"QUIT":
            self.done.set_result(None)
        else:
            self.transport.sendto(data[::-1], addr)
async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(lambda: Echo(done), local_addr=("127.0.0.1", 0))
    print(transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.wait_for(done, 20)
    transport.close()
asyncio.run(main())
)PY";

// A Python asyncio UDP client: sends every byte value and sizes up to
// 60000 bytes, one at a time, and checks each answer is the datagram
// reversed; prints OK and the count.
const char* const python_echo_client = R"PY(
import asyncio, sys
class Client(asyncio.DatagramProtocol):
    def __init__(self): self.answers = asyncio.Queue()
    def datagram_received(self, data, addr): self.answers.put_nowait(data)
    def error_received(self, exc): print("error", exc, flush=True)
async def main():
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", int(sys.argv[1])))
    sizes = [0, 1, 2, 255, 256, 1400, 4096, 60000]
    for n in sizes:
        data = bytes((i * 31 + n) % 256 for i in range(n))
        transport.sendto(data)
        answer = await asyncio.wait_for(client.answers.get(), 10)
        assert answer == data[::-1], (n, len(answer))
    transport.close()
    print("OK", len(sizes), flush=True)
asyncio.run(main())
)PY";

/// Echoes each datagram reversed (the Python peers' convention).
struct Reverser : MyDatagramProto {
  void datagram_received(std::string_view data, const SocketAddress& addr) override {
    MyDatagramProto::datagram_received(data, addr);
    transport->sendto(std::string(data.rbegin(), data.rend()), addr);
  }
};

}  // namespace

TEST(DatagramInterop, OurEndpointAgainstPythonServer) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](auto&) -> Coroutine<> {
    net_test::Python py(python_echo_server, {});
    const std::string port_line = co_await py.read_line(25);
    EXPECT_FALSE(port_line.empty()) << py.output();
    if (port_line.empty()) co_return;
    auto [t, p] = co_await create_datagram_endpoint(get_running_loop(), make<MyDatagramProto>,
                                                    {.remote_addr = {"127.0.0.1", std::stoi(port_line)}});
    std::vector<std::string> sent;
    for (std::size_t n : {0, 1, 255, 256, 1400, 9000, 65000}) {
      std::string data(n, '\0');
      for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<char>((i * 13 + n) & 0xff);
      sent.push_back(data);
      t->sendto(data);
      EXPECT_TRUE(co_await run_until([&] { return p->received.size() == sent.size(); })) << n;
      CO_ASSERT_EQ(p->received.size(), sent.size());
      EXPECT_TRUE(p->received.back().first == std::string(data.rbegin(), data.rend())) << n;
    }
    t->sendto("QUIT");
    EXPECT_EQ(co_await py.wait(25), 0) << py.output();
    t->close();
    co_await p->done;
  });
}

TEST(DatagramInterop, PythonClientAgainstOurEndpoint) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](auto&) -> Coroutine<> {
    auto [t, p] = co_await create_datagram_endpoint(get_running_loop(), make<Reverser>,
                                                    {.local_addr = {"127.0.0.1", 0}});
    net_test::Python py(python_echo_client, {std::to_string(sockname(t).port)});
    EXPECT_EQ(co_await py.wait(25), 0) << py.output();
    EXPECT_EQ(py.output(), "OK 8\n");
    EXPECT_EQ(p->received.size(), 8u);
    t->close();
    co_await p->done;
  });
}
