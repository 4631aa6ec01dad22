// asyncio-cpp: SPDX-License-Identifier: MIT
// Tests for create_connection's Happy Eyeballs, interleave, all_errors and
// local_addr, create_server's host lists and keep_alive, and getnameinfo
// (≙ those cases of Lib/test/test_asyncio/test_base_events.py and
// test_events.py). CPython's tests replace getaddrinfo with a mock; here
// detail::connect_resolved is given the addresses instead, all on loopback
// (127.0.0.0/8 and ::1; the IPv6 cases are skipped without ::1). An address
// that never answers is a listener whose backlog is full: its kernel drops
// further SYNs.
#include <asyncio/base_events.hpp>

#include <asyncio/asyncio.hpp>

#include "detail/connect.hpp"
#include "detail/resolve.hpp"
#include "detail/sockaddr.hpp"
#include "net_test.hpp"

#include <netinet/in.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <any>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using asyncio::Coroutine;
using asyncio::ExceptionGroup;
using asyncio::get_running_loop;
using asyncio::Protocol;
using asyncio::SocketAddress;
using asyncio_test::holds;
using asyncio_test::raises;
using asyncio_test::what;
using asyncio::detail::Resolved;

namespace {

Resolved addr(const char* host, int port) {
  Resolved r;
  EXPECT_TRUE(asyncio::detail::numeric_address(host, static_cast<std::uint16_t>(port), AF_UNSPEC, r.addr, r.len));
  r.family = r.addr.ss_family;
  r.type = SOCK_STREAM;
  r.proto = IPPROTO_TCP;
  return r;
}

std::string repr(const Resolved& r) { return asyncio::detail::to_socket_address(r.sa(), r.len).repr(); }

std::vector<std::string> reprs(const std::vector<Resolved>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(repr(r));
  return out;
}

/// True if a socket can be bound to ::1.
bool have_ipv6_loopback() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

/// A listening socket on `host` (blocking, never accepting); `backlog_full`
/// fills its backlog so that it never answers another connect.
class Listener {
 public:
  Listener(const char* host, bool backlog_full) {
    Resolved r = addr(host, 0);
    fd_ = ::socket(r.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::bind(fd_, r.sa(), r.len) != 0 || ::listen(fd_, backlog_full ? 0 : 16) != 0) return;
    SocketAddress name = asyncio::TransportSocket(fd_).getsockname();
    port_ = name.port;
    if (backlog_full) fill(r.family, host);
  }
  ~Listener() {
    for (int f : fillers_) ::close(f);
    if (fd_ >= 0) ::close(fd_);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int port() const { return port_; }
  bool ok() const { return port_ > 0; }

 private:
  // Connects until one connect is left unanswered for 200 ms: the backlog
  // is then full (listen(0) holds one connection on Linux).
  void fill(int family, const char* host) {
    for (int i = 0; i < 8; ++i) {
      int c = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      fillers_.push_back(c);
      Resolved r = addr(host, port_);
      ::connect(c, r.sa(), r.len);
      pollfd p{c, POLLOUT, 0};
      if (::poll(&p, 1, 200) == 0) return;
    }
    port_ = -1;  // never full: the test cannot run
  }

  int fd_ = -1;
  int port_ = -1;
  std::vector<int> fillers_;
};

/// A port with nothing listening on 127.0.0.1 (connecting is refused).
int closed_port() {
  int port = 0;
  int fd = net_test::raw_listener(port);
  ::close(fd);
  return port;
}

std::shared_ptr<Protocol> null_protocol() { return std::make_shared<Protocol>(); }

using ConnResult = asyncio::detail::ConnectionResult;

Coroutine<ConnResult> connect_to(std::vector<Resolved> infos, asyncio::ConnectionOptions options) {
  Coroutine<ConnResult> c = asyncio::detail::connect_resolved(get_running_loop(), null_protocol, std::move(infos),
                                                              std::nullopt, options);
  co_return co_await c;
}

SocketAddress peer_of(const ConnResult& c) {
  return std::any_cast<SocketAddress>(c.first->get_extra_info("peername"));
}

/// Runs `body` on a virtual-time loop, then checks that the loop reported
/// nothing, that no task is left and that no descriptor leaked. The loop's
/// first stream makes libuv open a descriptor it keeps until the loop
/// closes (its EMFILE reserve): one is made first, so that the body can
/// count descriptors.
template <class F>
void run_virtual(F body) {
  const int before = net_test::count_fds();
  {
    asyncio_test::TestLoop t(true);
    asyncio::detail::StreamTransport::make(t.loop, asyncio::detail::StreamTransport::Kind::tcp)->discard();
    t.loop.run_until_complete(body(t));
    t.run_briefly();
    EXPECT_TRUE(asyncio::all_tasks(t.loop).empty());
    t.loop.close();
    for (const auto& c : t.log.calls) ADD_FAILURE() << "exception handler: " << c.message << ": " << what(c.exception);
  }
  EXPECT_EQ(net_test::count_fds(), before) << "file descriptors leaked";
}

}  // namespace

// ---- _interleave_addrinfos -------------------------------------------------------

TEST(BaseEventLoop, test__interleave_addrinfos) {
  using asyncio::detail::interleave_addrinfos;
  std::vector<Resolved> infos{addr("::1", 1), addr("::1", 2), addr("127.0.0.1", 3), addr("::1", 4),
                              addr("127.0.0.1", 5)};
  EXPECT_EQ(reprs(interleave_addrinfos(infos)),
            (std::vector<std::string>{"('::1', 1, 0, 0)", "('127.0.0.1', 3)", "('::1', 2, 0, 0)",
                                      "('127.0.0.1', 5)", "('::1', 4, 0, 0)"}));
  // first_address_family_count = 2: one more of the first family first.
  EXPECT_EQ(reprs(interleave_addrinfos(infos, 2)),
            (std::vector<std::string>{"('::1', 1, 0, 0)", "('::1', 2, 0, 0)", "('127.0.0.1', 3)",
                                      "('::1', 4, 0, 0)", "('127.0.0.1', 5)"}));
  // More than the family has: the whole family first.
  EXPECT_EQ(reprs(interleave_addrinfos(infos, 10)),
            (std::vector<std::string>{"('::1', 1, 0, 0)", "('::1', 2, 0, 0)", "('::1', 4, 0, 0)",
                                      "('127.0.0.1', 3)", "('127.0.0.1', 5)"}));
  // One family: unchanged; none: none.
  std::vector<Resolved> v4{addr("127.0.0.1", 1), addr("127.0.0.2", 2)};
  EXPECT_EQ(reprs(interleave_addrinfos(v4)), reprs(v4));
  EXPECT_TRUE(interleave_addrinfos({}).empty());
}

// ---- Happy Eyeballs ------------------------------------------------------------------

namespace {

/// The first address never answers; the second connects after the delay
/// and wins; the first attempt is cancelled and its socket closed before
/// create_connection returns.
void happy_eyeballs_case(const char* slow_host, const char* fast_host) {
  Listener slow(slow_host, true);
  Listener fast(fast_host, false);
  ASSERT_TRUE(slow.ok() && fast.ok());
  std::vector<Resolved> infos{addr(slow_host, slow.port()), addr(fast_host, fast.port())};
  run_virtual([&](asyncio_test::TestLoop& t) -> Coroutine<> {
    const int fds_before = net_test::count_fds();
    Coroutine<ConnResult> c = connect_to(infos, {.happy_eyeballs_delay = 0.3});
    ConnResult conn = co_await c;
    EXPECT_EQ(peer_of(conn), asyncio::detail::to_socket_address(infos[1].sa(), infos[1].len));
    EXPECT_GE(t.loop.time(), 0.3);
    // The winner's socket is open, the loser's already closed.
    EXPECT_EQ(net_test::count_fds(), fds_before + 1);
    conn.first->close();
  });
}

}  // namespace

TEST(BaseEventLoop, test_create_connection_happy_eyeballs) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  happy_eyeballs_case("::1", "127.0.0.1");
}

TEST(BaseEventLoop, test_create_connection_happy_eyeballs_ipv4_only) { happy_eyeballs_case("127.0.0.1", "127.0.0.2"); }

TEST(BaseEventLoop, test_create_connection_happy_eyeballs_ipv6_only) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  happy_eyeballs_case("::1", "::1");
}

// ≙ test_create_connection_timeout: without a delay the first address is
// waited for as long as it takes, here until wait_for gives up; the
// socket is closed (no descriptor left).
TEST(BaseEventLoop, test_create_connection_timeout) {
  Listener slow("127.0.0.1", true);
  Listener fast("127.0.0.1", false);
  ASSERT_TRUE(slow.ok() && fast.ok());
  std::vector<Resolved> infos{addr("127.0.0.1", slow.port()), addr("127.0.0.1", fast.port())};
  run_virtual([&](asyncio_test::TestLoop& t) -> Coroutine<> {
    Coroutine<ConnResult> c = connect_to(infos, {});
    std::exception_ptr e = co_await raises(asyncio::wait_for(std::move(c), 5.0));
    EXPECT_TRUE(holds<asyncio::TimeoutError>(e));
    EXPECT_NEAR(t.loop.time(), 5.0, 1e-9);
  });
}

// A failed attempt starts the next one at once, without waiting for the
// delay; with every address failing, the errors are those of the attempts
// in the order they started.
TEST(BaseEventLoop, test_create_connection_happy_eyeballs_all_fail) {
  const int p1 = closed_port(), p2 = closed_port();
  net_test::run_net([p1, p2](net_test::NetLoop&) -> Coroutine<> {
    std::vector<Resolved> infos{addr("127.0.0.1", p1), addr("127.0.0.1", p2)};
    // 3600 s: a test that waited for the delay would time out.
    Coroutine<ConnResult> c = connect_to(infos, {.happy_eyeballs_delay = 3600});
    std::exception_ptr e = co_await raises(std::move(c));
    EXPECT_TRUE(asyncio_test::has_errc(e, std::errc::connection_refused));
    EXPECT_EQ(what(e), "Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(p1) +
                           "), [Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(p2) + ")");
    Coroutine<ConnResult> c2 = connect_to(infos, {.happy_eyeballs_delay = 3600, .all_errors = true});
    e = co_await raises(std::move(c2));
    CO_ASSERT_TRUE(holds<ExceptionGroup>(e));
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      EXPECT_EQ(std::string(g.what()), "create_connection failed");
      EXPECT_EQ(g.exceptions().size(), 2u);
      for (const auto& x : g.exceptions()) EXPECT_TRUE(asyncio_test::has_errc(x, std::errc::connection_refused));
    }
  });
}

// Cancelling create_connection during the race cancels every attempt and
// closes every socket.
TEST(BaseEventLoop, CancelledHappyEyeballsClosesEveryAttempt) {
  Listener slow1("127.0.0.1", true);
  Listener slow2("127.0.0.2", true);
  ASSERT_TRUE(slow1.ok() && slow2.ok());
  std::vector<Resolved> infos{addr("127.0.0.1", slow1.port()), addr("127.0.0.2", slow2.port())};
  run_virtual([&](asyncio_test::TestLoop& t) -> Coroutine<> {
    const int fds_before = net_test::count_fds();
    auto task = asyncio::create_task(connect_to(infos, {.happy_eyeballs_delay = 0.25}));
    co_await asyncio::sleep(1);
    EXPECT_EQ(net_test::count_fds(), fds_before + 2);  // both attempts are connecting
    task.cancel();
    std::exception_ptr e = co_await raises(task);
    EXPECT_TRUE(holds<asyncio::CancelledError>(e));
    EXPECT_EQ(net_test::count_fds(), fds_before);
    (void)t;
  });
}

// The public calls take the options: one address, Happy Eyeballs or not.
TEST(BaseEventLoop, CreateConnectionHappyEyeballsPublic) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    auto server = co_await asyncio::start_server(net_test::echo_lines, "127.0.0.1", 0);
    const int port = net_test::port_of(server);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port, {.happy_eyeballs_delay = 0.25});
    writer.write("ping\n");
    EXPECT_EQ(co_await reader.readline(), "ping\n");
    writer.close();
    co_await writer.wait_closed();
    auto [t, p] = co_await asyncio::create_connection(get_running_loop(), null_protocol, "127.0.0.1", port,
                                                      {.happy_eyeballs_delay = 0.25, .interleave = 2});
    t->close();
    co_await net_test::close_server(server);
  });
}

// ---- interleave -------------------------------------------------------------------------

// The attempts follow the interleaved order (seen in the order of the
// errors); interleave = 0 keeps getaddrinfo's, also with Happy Eyeballs.
TEST(BaseEventLoop, test_create_connection_interleave) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  const int p1 = closed_port(), p2 = closed_port(), p3 = closed_port();
  net_test::run_net([=](net_test::NetLoop&) -> Coroutine<> {
    std::vector<Resolved> infos{addr("::1", p1), addr("::1", p2), addr("127.0.0.1", p3)};
    auto order = [&](asyncio::ConnectionOptions o) -> Coroutine<std::vector<int>> {
      o.all_errors = true;
      Coroutine<ConnResult> c = connect_to(infos, o);
      std::exception_ptr e = co_await raises(std::move(c));
      std::vector<int> ports;
      try {
        std::rethrow_exception(e);
      } catch (const ExceptionGroup& g) {
        for (const auto& x : g.exceptions()) {
          const std::string text = what(x);
          ports.push_back(std::stoi(text.substr(text.find(", ") + 2)));
        }
      } catch (...) {
        ADD_FAILURE() << "not an ExceptionGroup: " << what(e);
      }
      co_return ports;
    };
    // Not inside the co_await: GCC 12 (initializer_list array).
    const std::vector<int> given{p1, p2, p3}, interleaved{p1, p3, p2};
    std::vector<int> got = co_await order({});
    EXPECT_EQ(got, given);
    got = co_await order({.interleave = 1});
    EXPECT_EQ(got, interleaved);
    got = co_await order({.interleave = 2});
    EXPECT_EQ(got, given);
    got = co_await order({.happy_eyeballs_delay = 3600});
    EXPECT_EQ(got, interleaved);
    got = co_await order({.happy_eyeballs_delay = 3600, .interleave = 0});
    EXPECT_EQ(got, given);
  });
}

// ---- errors --------------------------------------------------------------------------------

// ≙ test_create_connection_multiple_errors: different messages are joined,
// all_errors gives an ExceptionGroup of every OSError.
TEST(BaseEventLoop, test_create_connection_multiple_errors) {
  const int p1 = closed_port(), p2 = closed_port();
  net_test::run_net([=](net_test::NetLoop&) -> Coroutine<> {
    std::vector<Resolved> infos{addr("127.0.0.1", p1), addr("127.0.0.1", p2)};
    std::exception_ptr e = co_await raises(connect_to(infos, {}));
    EXPECT_EQ(what(e), "Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(p1) +
                           "), [Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(p2) + ")");
    EXPECT_TRUE(asyncio_test::has_errc(e, std::errc::connection_refused));
    e = co_await raises(connect_to(infos, {.all_errors = true}));
    CO_ASSERT_TRUE(holds<ExceptionGroup>(e));
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      EXPECT_EQ(g.exceptions().size(), 2u);
      for (const auto& x : g.exceptions()) EXPECT_TRUE(holds<std::system_error>(x));
    }
  });
}

// ≙ test_create_connection_connect_err: one error as it is, or alone in
// the group with all_errors.
TEST(BaseEventLoop, test_create_connection_connect_err) {
  const int port = closed_port();
  net_test::run_net([port](net_test::NetLoop&) -> Coroutine<> {
    auto& loop = get_running_loop();
    std::exception_ptr e = co_await raises(asyncio::create_connection(loop, null_protocol, "127.0.0.1", port));
    EXPECT_EQ(what(e), "[Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(port) + ")");
    e = co_await raises(asyncio::create_connection(loop, null_protocol, "127.0.0.1", port, {.all_errors = true}));
    CO_ASSERT_TRUE(holds<ExceptionGroup>(e));
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      EXPECT_EQ(std::string(g.what()), "create_connection failed");
      CO_ASSERT_EQ(g.exceptions().size(), 1u);
      EXPECT_TRUE(asyncio_test::has_errc(g.exceptions()[0], std::errc::connection_refused));
    }
    // open_connection passes all_errors on.
    e = co_await raises(asyncio::open_connection("127.0.0.1", port, {.all_errors = true}));
    EXPECT_TRUE(holds<ExceptionGroup>(e));
  });
}

// ---- local_addr ----------------------------------------------------------------------------

TEST(BaseEventLoop, test_create_connection_local_addr) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    auto server = co_await asyncio::start_server(net_test::echo_lines, "127.0.0.1", 0);
    const int local_port = closed_port();
    auto [t, p] = co_await asyncio::create_connection(get_running_loop(), null_protocol, "127.0.0.1",
                                                      net_test::port_of(server),
                                                      {.local_host = "127.0.0.1", .local_port = local_port});
    EXPECT_EQ(std::any_cast<SocketAddress>(t->get_extra_info("sockname")).port, local_port);
    t->close();
    // With Happy Eyeballs too, and through open_connection.
    auto [reader, writer] = co_await asyncio::open_connection(
        "127.0.0.1", net_test::port_of(server), {.local_host = "127.0.0.2", .happy_eyeballs_delay = 0.25});
    EXPECT_EQ(std::any_cast<SocketAddress>(writer.get_extra_info("sockname")).host, "127.0.0.2");
    writer.close();
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
  });
}

// ≙ test_create_connection_local_addr_in_use: the bind's error, with the
// address in its text.
TEST(BaseEventLoop, test_create_connection_local_addr_in_use) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    auto server = co_await asyncio::start_server(net_test::echo_lines, "127.0.0.1", 0);
    const int port = net_test::port_of(server);
    std::exception_ptr e = co_await raises(asyncio::create_connection(
        get_running_loop(), null_protocol, "127.0.0.1", port, {.local_host = "127.0.0.1", .local_port = port}));
    EXPECT_TRUE(asyncio_test::has_errc(e, std::errc::address_in_use));
    EXPECT_EQ(what(e), "[Errno 98] error while attempting to bind on address ('127.0.0.1', " + std::to_string(port) +
                           "): address already in use");
    co_await net_test::close_server(server);
  });
}

// ≙ test_create_connection_local_addr_skip_different_family: a local
// address of another family is skipped; the IPv4 one is used (and, here,
// nothing listens: the connect's error).
TEST(BaseEventLoop, test_create_connection_local_addr_skip_different_family) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  const int port = closed_port();
  net_test::run_net([port](net_test::NetLoop&) -> Coroutine<> {
    std::vector<Resolved> local{addr("::1", 0), addr("127.0.0.1", 0)};
    Coroutine<ConnResult> c = asyncio::detail::connect_resolved(get_running_loop(), null_protocol,
                                                                {addr("127.0.0.1", port)}, local, {});
    std::exception_ptr e = co_await raises(std::move(c));
    EXPECT_EQ(what(e), "[Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(port) + ")");
  });
}

// ≙ test_create_connection_local_addr_nomatch_family: CPython's message.
TEST(BaseEventLoop, test_create_connection_local_addr_nomatch_family) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  const int port = closed_port();
  net_test::run_net([port](net_test::NetLoop&) -> Coroutine<> {
    std::exception_ptr e = co_await raises(asyncio::create_connection(
        get_running_loop(), null_protocol, "127.0.0.1", port, {.local_host = "::1", .local_port = 0}));
    EXPECT_TRUE(holds<std::system_error>(e));
    EXPECT_EQ(what(e), "no matching local address with family=<AddressFamily.AF_INET: 2> found");
  });
}

// ≙ test_create_connection_multiple_errors_local_addr: a failed bind and a
// failed connect, both reported.
TEST(BaseEventLoop, test_create_connection_multiple_errors_local_addr) {
  const int port = closed_port();
  net_test::run_net([port](net_test::NetLoop&) -> Coroutine<> {
    auto server = co_await asyncio::start_server(net_test::echo_lines, "127.0.0.1", 0);
    const int busy = net_test::port_of(server);
    // The first local address is in use, the second binds; nothing listens
    // at the target.
    std::vector<Resolved> local{addr("127.0.0.1", busy), addr("127.0.0.1", 0)};
    Coroutine<ConnResult> c = asyncio::detail::connect_resolved(
        get_running_loop(), null_protocol, {addr("127.0.0.1", port)}, local, {.all_errors = true});
    std::exception_ptr e = co_await raises(std::move(c));
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      CO_ASSERT_EQ(g.exceptions().size(), 2u);
      EXPECT_TRUE(asyncio_test::has_errc(g.exceptions()[0], std::errc::address_in_use));
      EXPECT_TRUE(asyncio_test::has_errc(g.exceptions()[1], std::errc::connection_refused));
    } catch (...) {
      ADD_FAILURE() << "not an ExceptionGroup: " << what(e);
    }
    co_await net_test::close_server(server);
  });
}

// ---- create_server: several hosts, keep_alive, reuse_port -----------------------------------

namespace {

std::vector<std::string> server_hosts(const asyncio::Server& server) {
  std::vector<std::string> hosts;
  for (const auto& s : server.sockets()) hosts.push_back(s.getsockname().host);
  return hosts;
}

Coroutine<> create_server_multiple_hosts(std::vector<std::string> hosts, std::vector<std::string> unique_hosts) {
  auto server = co_await asyncio::create_server(get_running_loop(), null_protocol, hosts, 0);
  EXPECT_EQ(server_hosts(server), unique_hosts);
  // Each socket accepts.
  for (const auto& s : server.sockets()) {
    auto [t, p] = co_await asyncio::create_connection(get_running_loop(), null_protocol, s.getsockname().host,
                                                      s.getsockname().port);
    t->close();
  }
  co_await net_test::close_server(server);
}

}  // namespace

// ≙ test_create_server_multiple_hosts_ipv4: a host given twice is bound once.
TEST(BaseEventLoop, test_create_server_multiple_hosts_ipv4) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    std::vector<std::string> hosts{"127.0.0.1", "127.0.0.2", "127.0.0.1"}, unique{"127.0.0.1", "127.0.0.2"};
    co_await create_server_multiple_hosts(hosts, unique);
  });
}

TEST(BaseEventLoop, test_create_server_multiple_hosts_ipv6) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1";
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    std::vector<std::string> hosts{"::1", "127.0.0.1", "::1"}, unique{"::1", "127.0.0.1"};
    co_await create_server_multiple_hosts(hosts, unique);
  });
}

// start_server takes the list too; an unknown host fails the whole call,
// with CPython's message for an empty lookup.
TEST(BaseEventLoop, StartServerMultipleHosts) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    std::vector<std::string> hosts{"127.0.0.2", "127.0.0.1"};
    auto server = co_await asyncio::start_server(net_test::echo_lines, hosts, 0);
    const std::vector<std::string> expected{"127.0.0.2", "127.0.0.1"};
    EXPECT_EQ(server_hosts(server), expected);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.2", server.sockets()[0].getsockname().port);
    writer.write("hi\n");
    EXPECT_EQ(co_await reader.readline(), "hi\n");
    writer.close();
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
  });
}

// ≙ test_create_server_keep_alive (3.13): SO_KEEPALIVE on the listening
// socket and so on the connections it accepts; off by default.
TEST(BaseEventLoop, test_create_server_keep_alive) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    auto& loop = get_running_loop();
    auto plain = co_await asyncio::create_server(loop, null_protocol, "127.0.0.1", 0);
    EXPECT_EQ(plain.sockets()[0].getsockopt(SOL_SOCKET, SO_KEEPALIVE), 0);
    co_await net_test::close_server(plain);
    asyncio::Future<bool> accepted_keepalive = loop.create_future<bool>();
    auto on_client = [accepted_keepalive](asyncio::StreamReader, asyncio::StreamWriter w) mutable {
      auto sock = std::any_cast<asyncio::TransportSocket>(w.get_extra_info("socket"));
      accepted_keepalive.set_result(sock.getsockopt(SOL_SOCKET, SO_KEEPALIVE) != 0);
      w.close();
    };
    auto server = co_await asyncio::start_server(on_client, "127.0.0.1", 0, {.keep_alive = true});
    EXPECT_NE(server.sockets()[0].getsockopt(SOL_SOCKET, SO_KEEPALIVE), 0);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", net_test::port_of(server));
    EXPECT_TRUE(co_await accepted_keepalive);
    writer.close();
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
  });
}

// ≙ test_create_server_reuse_port: SO_REUSEPORT only when asked.
TEST(BaseEventLoop, test_create_server_reuse_port) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    auto& loop = get_running_loop();
    auto server = co_await asyncio::create_server(loop, null_protocol, "0.0.0.0", 0);
    CO_ASSERT_EQ(server.sockets().size(), 1u);
    EXPECT_EQ(server.sockets()[0].getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
    co_await net_test::close_server(server);
    server = co_await asyncio::create_server(loop, null_protocol, "0.0.0.0", 0, {.reuse_port = true});
    CO_ASSERT_EQ(server.sockets().size(), 1u);
    EXPECT_NE(server.sockets()[0].getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
    co_await net_test::close_server(server);
  });
}

// An address this host cannot bind (EADDRNOTAVAIL: 192.0.2.1, TEST-NET-1,
// is on no interface; nothing is sent) is skipped; none left is an error.
TEST(BaseEventLoop, CreateServerSkipsAddressesNotAvailable) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    auto& loop = get_running_loop();
    std::vector<std::string> hosts{"192.0.2.1", "127.0.0.1"};
    auto server = co_await asyncio::create_server(loop, null_protocol, hosts, 0);
    const std::vector<std::string> expected{"127.0.0.1"};
    EXPECT_EQ(server_hosts(server), expected);
    co_await net_test::close_server(server);
    std::exception_ptr e = co_await raises(asyncio::create_server(loop, null_protocol, "192.0.2.1", 0));
    EXPECT_TRUE(holds<std::system_error>(e));
    EXPECT_EQ(what(e), "could not bind on any address out of [('192.0.2.1', 0)]");
  });
}

// ---- getnameinfo -------------------------------------------------------------------------------

// ≙ test_getnameinfo: the C library's answer, from the thread pool.
TEST(BaseEventLoop, test_getnameinfo) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    auto& loop = get_running_loop();
    Resolved r = addr("127.0.0.1", 80);
    char host[NI_MAXHOST], service[NI_MAXSERV];
    CO_ASSERT_EQ(::getnameinfo(r.sa(), r.len, host, sizeof host, service, sizeof service, 0), 0);
    auto [h, s] = co_await asyncio::getnameinfo(loop, "127.0.0.1", 80);
    EXPECT_EQ(h, host);
    EXPECT_EQ(s, service);
    auto numeric = co_await asyncio::getnameinfo(loop, "127.0.0.1", 80, NI_NUMERICHOST | NI_NUMERICSERV);
    EXPECT_EQ(numeric, (std::pair<std::string, std::string>("127.0.0.1", "80")));
    const SocketAddress v6{AF_INET6, "::1", 22};
    auto numeric6 = co_await asyncio::getnameinfo(loop, v6, NI_NUMERICHOST | NI_NUMERICSERV);
    EXPECT_EQ(numeric6, (std::pair<std::string, std::string>("::1", "22")));
    // A name is not an address (socket.getnameinfo's gaierror).
    std::exception_ptr e = co_await raises(asyncio::getnameinfo(loop, "localhost", 80));
    EXPECT_EQ(what(e), "[Errno -2] Name or service not known");
    e = co_await raises(asyncio::getnameinfo(loop, "127.0.0.1", 65536));
    EXPECT_TRUE(holds<std::overflow_error>(e));
  });
}

// Cancelled while the thread pool works: nothing is left behind (ASan).
TEST(BaseEventLoop, GetnameinfoCancelled) {
  net_test::run_net([](net_test::NetLoop&) -> Coroutine<> {
    auto task = asyncio::create_task(asyncio::getnameinfo(get_running_loop(), "127.0.0.1", 80));
    co_await asyncio::sleep(0);
    task.cancel();
    std::exception_ptr e = co_await raises(task);
    EXPECT_TRUE(holds<asyncio::CancelledError>(e) || !e);  // it may have finished first
    co_await asyncio::sleep(0.05);  // the abandoned request's callback
  });
}
