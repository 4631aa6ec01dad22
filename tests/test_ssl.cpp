// Ports of the CPython TLS tests that tests/test_sslproto.cpp does not
// hold: the rest of Lib/test/test_asyncio/test_sslproto.py (its
// SslProtoHandshakeTests through the public API, its BaseStartTLS cases),
// of test_ssl.py, and the TLS cases of test_events.py, test_base_events.py
// and test_unix_events.py, each named after its CPython test. Peers are our
// own loop's servers and clients, or CPython 3.13's `ssl` module in a child
// process where the test needs a peer that does what asyncio cannot (send
// close_notify and keep reading). The CPython tests not ported, and why:
// docs/ssl.md, "CPython's tests".
#include <asyncio/asyncio.hpp>

#include "net_test.hpp"
#include "tls_test.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::TestLoop;
using asyncio_test::what;
using net_test::NetLoop;
using net_test::port_of;
using net_test::Python;
using net_test::run_net;
using tls_test::Accepted;
using tls_test::Recorder;
namespace ssl = asyncio::ssl;

namespace {

using Conn = Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>>;

/// ≙ test_utils.simple_client_sslcontext(): no hostname check (the tests
/// pass server_hostname=''), the chain still verified against the test CA.
ssl::SSLContext simple_client_sslcontext() {
  ssl::SSLContext ctx = tls_test::client_context();
  ctx.check_hostname(false);
  return ctx;
}

/// ≙ test_utils.dummy_ssl_context(): nothing verified.
ssl::SSLContext dummy_ssl_context() {
  ssl::SSLContext ctx(ssl::PROTOCOL_TLS_CLIENT);
  ctx.check_hostname(false);
  ctx.verify_mode(ssl::CERT_NONE);
  return ctx;
}

auto recorder_factory() {
  return [] { return std::make_shared<Recorder>(); };
}

bool have_python() {
  static const bool ok = std::system("python3 -c 'import ssl' >/dev/null 2>&1") == 0;
  return ok;
}

/// True if `e` is an OSError with `code` (≙ assertRaises(ConnectionResetError)).
bool is_errno(const std::exception_ptr& e, std::errc code) {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& s) {
    return s.code() == code;
  } catch (...) {
    return false;
  }
}

}  // namespace

// ---- argument checks (test_base_events, test_unix_events) ----------------------------

TEST(SSLProto, test_handshake_timeout_negative) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    ssl::SSLContext cctx = simple_client_sslcontext();
    Conn c = create_connection(loop, recorder_factory(), "127.0.0.1", 1,
                               {.ssl = &cctx, .server_hostname = "", .ssl_handshake_timeout = -10.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c))),
              "ssl_handshake_timeout should be a positive number, got -10.0");
    ssl::SSLContext sctx = tls_test::server_context();
    Coroutine<Server> s = create_server(loop, recorder_factory(), "127.0.0.1", 0,
                                        {.ssl = &sctx, .ssl_handshake_timeout = -10.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(s))),
              "ssl_handshake_timeout should be a positive number, got -10.0");
  };
  t.loop.run_until_complete(main(t.loop));
}

TEST(SSLProto, test_create_server_ssl_timeout_for_plain_socket) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    Coroutine<Server> s = create_server(loop, recorder_factory(), "127.0.0.1", 0, {.ssl_handshake_timeout = 1.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(s))), "ssl_handshake_timeout is only meaningful with ssl");
  };
  t.loop.run_until_complete(main(t.loop));
}

TEST(SSLProto, test_create_connection_ssl_timeout_for_plain_socket) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    Conn c = create_connection(loop, recorder_factory(), "127.0.0.1", 1, {.ssl_handshake_timeout = 1.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c))), "ssl_handshake_timeout is only meaningful with ssl");
  };
  t.loop.run_until_complete(main(t.loop));
}

// When not using ssl, server_hostname must be None (even '').
TEST(SSLProto, test_create_connection_no_ssl_server_hostname_errors) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    for (const char* name : {"", "python.org"}) {
      Conn c = create_connection(loop, recorder_factory(), "127.0.0.1", 1, {.server_hostname = name});
      std::exception_ptr e = co_await asyncio_test::raises(std::move(c));
      EXPECT_TRUE(holds<std::invalid_argument>(e));
      EXPECT_EQ(what(e), "server_hostname is only meaningful with ssl");
    }
  };
  t.loop.run_until_complete(main(t.loop));
}

// When using ssl, server_hostname may be None only if host is non-empty.
TEST(SSLProto, test_create_connection_ssl_server_hostname_errors) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    ssl::SSLContext cctx = tls_test::client_context();
    Conn empty_host = create_connection(loop, recorder_factory(), "", 80, {.ssl = &cctx});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(empty_host))),
              "You must set server_hostname when using ssl without a host");
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    Conn with_sock = create_connection(loop, recorder_factory(), {.sock = fds[0], .ssl = &cctx});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(with_sock))),
              "You must set server_hostname when using ssl without a host");
    ::close(fds[0]);
    ::close(fds[1]);
  };
  t.loop.run_until_complete(main(t.loop));
}

TEST(SSLProto, test_create_unix_server_ssl_timeout_with_plain_sock) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    Coroutine<Server> s = create_unix_server(loop, recorder_factory(), "spam", {.ssl_handshake_timeout = 1.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(s))), "ssl_handshake_timeout is only meaningful with ssl");
  };
  t.loop.run_until_complete(main(t.loop));
}

TEST(SSLProto, test_create_unix_connection_nossl_serverhost) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    Conn c = create_unix_connection(loop, recorder_factory(), "/dev/null", {.server_hostname = "spam"});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c))), "server_hostname is only meaningful with ssl");
  };
  t.loop.run_until_complete(main(t.loop));
}

TEST(SSLProto, test_create_unix_connection_ssl_noserverhost) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    ssl::SSLContext cctx = tls_test::client_context();
    Conn c = create_unix_connection(loop, recorder_factory(), "/dev/null", {.ssl = &cctx});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c))), "you have to pass server_hostname when using ssl");
  };
  t.loop.run_until_complete(main(t.loop));
}

TEST(SSLProto, test_create_unix_connection_ssl_timeout_with_plain_sock) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    Conn c = create_unix_connection(loop, recorder_factory(), "spam", {.ssl_handshake_timeout = 1.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c))), "ssl_handshake_timeout is only meaningful with ssl");
  };
  t.loop.run_until_complete(main(t.loop));
}

// server_hostname defaults to the host; an explicit one wins; '' sends none
// (the mock of _make_ssl_transport replaced by the SSLObject's view).
TEST(SSLProto, test_create_connection_ssl_server_hostname_default) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    ssl::SSLContext cctx = tls_test::client_context();
    ssl::SSLContext nocheck = simple_client_sslcontext();
    struct Case {
      ssl::SSLContext* ctx;
      std::optional<std::string_view> given;
      std::optional<std::string> expected;
    };
    for (const Case& c : {Case{&cctx, std::nullopt, "localhost"}, Case{&cctx, "127.0.0.1", "127.0.0.1"},
                          Case{&nocheck, "", std::nullopt}}) {
      auto [tr, client] = co_await create_connection(t.loop, recorder_factory(), "localhost", port_of(server),
                                                     {.family = AF_INET, .ssl = c.ctx, .server_hostname = c.given});
      auto obj = std::any_cast<std::shared_ptr<ssl::SSLObject>>(tr->get_extra_info("ssl_object"));
      EXPECT_EQ(obj->server_hostname(), c.expected);
      tr->close();
      EXPECT_TRUE(co_await net_test::until([&] { return client->state == "CLOSED"; }));
    }
    co_await net_test::close_server(server);
  });
}

// ---- start_tls (test_sslproto.BaseStartTLS) -------------------------------------------

namespace {

constexpr std::size_t PAYLOAD_SIZE = 1024 * 100;

/// A raw listening socket on loopback that the loop polls (≙ tcp_server()).
struct RawServer {
  int port = 0;
  int fd = net_test::raw_listener(port);
  RawServer() { ::fcntl(fd, F_SETFL, O_NONBLOCK); }
  ~RawServer() { ::close(fd); }
  Coroutine<int> accept() const {
    int conn = -1;
    while ((conn = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) co_await sleep(0.001);
    co_return conn;
  }
};

/// Reads exactly `n` bytes from the non-blocking socket `fd` (≙ recv_all):
/// not one more, so that what follows (a ClientHello) stays in the socket.
Coroutine<std::size_t> recv_all(int fd, std::size_t n) {
  std::string buf(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, buf.data() + got, n - got, 0);
    if (r == 0) break;
    if (r > 0)
      got += static_cast<std::size_t>(r);
    else
      co_await sleep(0.001);
  }
  co_return got;
}

/// The server side of the STARTTLS tests (≙ their blocking `serve(sock)`):
/// reads the plaintext hello when `hello_first`, goes TLS on the socket
/// (connect_accepted_socket), then sends each of `answers` and reads a
/// hello after it, and ends the connection without close_notify (≙
/// `sock.shutdown(socket.SHUT_RDWR)` on an SSLSocket, which drops the TLS
/// layer first).
struct StartTlsServer {
  bool hello_first = true;
  std::vector<std::string> answers;
  int served = 0;
  std::string error;
};

Coroutine<> serve_start_tls(StartTlsServer* s, const RawServer* raw) {
  const int fd = co_await raw->accept();
  try {
    if (s->hello_first && co_await recv_all(fd, PAYLOAD_SIZE) != PAYLOAD_SIZE) s->error = "hello";
    ssl::SSLContext sctx = tls_test::server_context();
    auto [tr, p] = co_await connect_accepted_socket(get_running_loop(), recorder_factory(), fd, {.ssl = &sctx});
    std::size_t expected = 0;
    for (const std::string& answer : s->answers) {
      tr->write(answer);
      expected += PAYLOAD_SIZE;
      if (!co_await net_test::until([&] { return p->data.size() >= expected; })) s->error = "payload";
    }
    ::shutdown(fd, SHUT_RDWR);
    tr->abort();
    ++s->served;
  } catch (const std::exception& e) {
    s->error = e.what();
  }
}

/// ≙ the tests' ClientProto: connection_made() once, the first data and
/// the EOF as futures.
struct ClientProto : Protocol {
  Future<std::string> on_data = get_running_loop().create_future<std::string>();
  Future<> on_eof = get_running_loop().create_future();
  int* con_made_cnt;
  explicit ClientProto(int* count) : con_made_cnt(count) {}
  void connection_made(Transport&) override { ++*con_made_cnt; }
  void data_received(std::string_view data) override {
    if (!on_data.done()) on_data.set_result(std::string(data));
  }
  bool eof_received() override {
    if (!on_eof.done()) on_eof.set_result();
    return false;
  }
};

/// ≙ test_start_tls_client_buf_proto_1's ClientProtoFirst: a one-byte buffer.
struct ClientProtoFirst : BufferedProtocol {
  Future<std::string> on_data = get_running_loop().create_future<std::string>();
  char buf[1];
  int* con_made_cnt;
  std::size_t bad_size = 0;
  explicit ClientProtoFirst(int* count) : con_made_cnt(count) {}
  void connection_made(Transport&) override { ++*con_made_cnt; }
  std::span<char> get_buffer(std::ptrdiff_t) override { return {buf, 1}; }
  void buffer_updated(std::size_t n) override {
    if (n != 1) bad_size = n;
    if (!on_data.done()) on_data.set_result(std::string(buf, n));
  }
};

}  // namespace

TEST(SSLProto, test_start_tls_client_reg_proto_1) {
  run_net([](NetLoop& t) -> Coroutine<> {
    static StartTlsServer srv;
    srv = StartTlsServer{.hello_first = true, .answers = {"O"}, .served = 0, .error = {}};
    RawServer raw;
    Task<> server = t.loop.create_task(serve_start_tls(&srv, &raw));
    int con_made_cnt = 0;
    auto factory = [&con_made_cnt] { return std::make_shared<ClientProto>(&con_made_cnt); };
    auto [tr, proto] = co_await create_connection(t.loop, factory, "127.0.0.1", raw.port);
    const std::string hello(PAYLOAD_SIZE, '1');
    tr->write(hello);
    ssl::SSLContext cctx = simple_client_sslcontext();
    std::shared_ptr<Transport> new_tr = co_await start_tls(t.loop, tr, proto, cctx);
    EXPECT_EQ(co_await proto->on_data, "O");
    new_tr->write(hello);
    co_await proto->on_eof;
    new_tr->close();
    EXPECT_EQ(con_made_cnt, 1);  // start_tls() does not call connection_made()
    // No garbage is left if TLS is closed uncleanly (≙ the weakref check).
    std::weak_ptr<Transport> weak = new_tr;
    std::weak_ptr<ClientProto> weak_proto = proto;
    new_tr.reset();
    tr.reset();
    proto.reset();
    EXPECT_TRUE(co_await net_test::until([&] { return weak.expired() && weak_proto.expired(); }));
    co_await server;
    EXPECT_EQ(srv.error, "");
    EXPECT_EQ(srv.served, 1);
  });
}

// A protocol that keeps its transport forever (≙ "we assume user stores
// the transport in protocol"): once the connection is lost, neither keeps
// the other alive.
TEST(SSLProto, test_create_connection_memory_leak) {
  run_net([](NetLoop& t) -> Coroutine<> {
    static StartTlsServer srv;
    srv = StartTlsServer{.hello_first = false, .answers = {"O"}, .served = 0, .error = {}};
    RawServer raw;
    Task<> server = t.loop.create_task(serve_start_tls(&srv, &raw));
    struct Keeping : ClientProto {
      using ClientProto::ClientProto;
      std::shared_ptr<Transport> tr;
      void connection_made(Transport& t) override {
        tr = t.shared_from_this();
        ClientProto::connection_made(t);
      }
    };
    int con_made_cnt = 0;
    auto factory = [&con_made_cnt] { return std::make_shared<Keeping>(&con_made_cnt); };
    ssl::SSLContext cctx = simple_client_sslcontext();
    auto [tr, proto] =
        co_await create_connection(t.loop, factory, "127.0.0.1", raw.port, {.ssl = &cctx, .server_hostname = ""});
    EXPECT_EQ(co_await proto->on_data, "O");
    tr->write(std::string(PAYLOAD_SIZE, '1'));
    co_await proto->on_eof;
    tr->close();
    EXPECT_EQ(con_made_cnt, 1);
    std::weak_ptr<Transport> weak = tr;
    std::weak_ptr<Keeping> weak_proto = proto;
    tr.reset();
    proto.reset();
    EXPECT_TRUE(co_await net_test::until([&] { return weak.expired() && weak_proto.expired(); }));
    co_await server;
    EXPECT_EQ(srv.error, "");
  });
}

TEST(SSLProto, test_start_tls_client_buf_proto_1) {
  run_net([](NetLoop& t) -> Coroutine<> {
    static StartTlsServer srv;
    srv = StartTlsServer{.hello_first = true, .answers = {"O", "2"}, .served = 0, .error = {}};
    RawServer raw;
    Task<> server = t.loop.create_task(serve_start_tls(&srv, &raw));
    int client_con_made_calls = 0;
    auto factory = [&client_con_made_calls] { return std::make_shared<ClientProtoFirst>(&client_con_made_calls); };
    auto [tr, proto] = co_await create_connection(t.loop, factory, "127.0.0.1", raw.port);
    const std::string hello(PAYLOAD_SIZE, '1');
    tr->write(hello);
    ssl::SSLContext cctx = simple_client_sslcontext();
    std::shared_ptr<Transport> new_tr = co_await start_tls(t.loop, tr, proto, cctx);
    EXPECT_EQ(co_await proto->on_data, "O");
    new_tr->write(hello);
    auto second = std::make_shared<ClientProto>(&client_con_made_calls);
    new_tr->set_protocol(second);
    EXPECT_EQ(new_tr->get_protocol(), second);
    EXPECT_EQ(co_await second->on_data, "2");
    new_tr->write(hello);
    co_await second->on_eof;
    new_tr->close();
    // connection_made() only once: when the connection was made; start_tls()
    // and set_protocol() call no connection_made().
    EXPECT_EQ(client_con_made_calls, 1);
    EXPECT_EQ(proto->bad_size, 0u);
    co_await server;
    EXPECT_EQ(srv.error, "");
    EXPECT_EQ(srv.served, 1);
  });
}

namespace {

/// ≙ test_start_tls_server_1's ServerProto.
struct ServerProto : Protocol {
  Future<std::shared_ptr<Transport>> on_con = get_running_loop().create_future<std::shared_ptr<Transport>>();
  Future<> on_con_lost = get_running_loop().create_future();
  Future<> on_got_hello = get_running_loop().create_future();
  std::string data;
  void connection_made(Transport& tr) override { on_con.set_result(tr.shared_from_this()); }
  void data_received(std::string_view d) override {
    data += d;
    if (data.size() >= PAYLOAD_SIZE && !on_got_hello.done()) on_got_hello.set_result();
  }
  void connection_lost(std::exception_ptr exc) override {
    if (exc)
      on_con_lost.set_exception(exc);
    else
      on_con_lost.set_result();
  }
};

/// ≙ its blocking client(sock, addr).
Coroutine<std::string> start_tls_server_1_client(int port) {
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  std::string hello = co_await reader.readexactly(PAYLOAD_SIZE);
  ssl::SSLContext cctx = simple_client_sslcontext();
  co_await writer.start_tls(cctx);
  writer.write(hello);
  std::string answer = co_await reader.readexactly(6);
  writer.close();
  co_return answer;
}

}  // namespace

TEST(SSLProto, test_start_tls_server_1) {
  run_net([](NetLoop& t) -> Coroutine<> {
    auto proto = std::make_shared<ServerProto>();
    auto factory = [proto] { return proto; };
    Server server = co_await create_server(t.loop, factory, "127.0.0.1", 0);
    Task<std::string> client = t.loop.create_task(start_tls_server_1_client(port_of(server)));
    std::shared_ptr<Transport> tr = co_await proto->on_con;
    tr->write(std::string(PAYLOAD_SIZE, '1'));
    EXPECT_EQ(proto->data, "");
    ssl::SSLContext sctx = tls_test::server_context();
    std::shared_ptr<Transport> new_tr =
        co_await start_tls(t.loop, tr, proto, sctx, {.server_side = true, .ssl_handshake_timeout = 20.0});
    co_await proto->on_got_hello;
    new_tr->write("answer");
    co_await proto->on_con_lost;
    EXPECT_TRUE(proto->data == std::string(PAYLOAD_SIZE, '1'));
    new_tr->close();
    EXPECT_EQ(co_await client, "answer");
    co_await net_test::close_server(server);
  });
}

// ---- handshake failures and timeouts ------------------------------------------------

namespace {

/// ≙ a blocking `server(sock)` that reads the ClientHello and then ends the
/// connection: with a FIN (`reset` false) or a RST.
Coroutine<> accept_read_and_close(const RawServer* listener, bool reset) {
  const int fd = co_await listener->accept();
  char buf[1024];
  while (::recv(fd, buf, sizeof buf, 0) <= 0) co_await sleep(0.001);
  if (reset) net_test::set_linger_zero(fd);
  ::close(fd);
}

/// Records whether connection_made() / connection_lost() ran.
struct Calls : Protocol {
  static inline bool made = false, lost = false;
  void connection_made(Transport&) override { made = true; }
  void connection_lost(std::exception_ptr) override { lost = true; }
};

/// A client that opens a TLS connection to `port` whose peer breaks it during
/// the handshake; what create_connection() threw.
Coroutine<std::exception_ptr> connect_to_breaking_peer(bool reset) {
  RawServer listener;
  Calls::made = Calls::lost = false;
  ssl::SSLContext cctx = simple_client_sslcontext();
  Task<> peer = get_running_loop().create_task(accept_read_and_close(&listener, reset));
  auto factory = [] { return std::make_shared<Calls>(); };
  Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Calls>>> c =
      create_connection(get_running_loop(), factory, "127.0.0.1", listener.port, {.ssl = &cctx, .server_hostname = ""});
  std::exception_ptr e = co_await asyncio_test::raises(std::move(c));
  co_await peer;
  co_await sleep(0.01);  // whatever the loop had scheduled
  co_return e;
}

}  // namespace

// EOF during the handshake: the waiter gets ConnectionResetError.
TEST(SSLProto, test_eof_received_waiter) {
  run_net([](NetLoop&) -> Coroutine<> {
    std::exception_ptr e = co_await connect_to_breaking_peer(false);
    EXPECT_TRUE(is_errno(e, std::errc::connection_reset)) << what(e);
  });
}

// #246: no connection_lost() (and no connection_made()) for a connection
// broken during the handshake.
TEST(SSLProto, test_ssl_handshake_connection_lost) {
  run_net([](NetLoop&) -> Coroutine<> {
    std::exception_ptr e = co_await connect_to_breaking_peer(false);
    EXPECT_TRUE(is_errno(e, std::errc::connection_reset)) << what(e);
    EXPECT_FALSE(Calls::made);
    EXPECT_FALSE(Calls::lost);
  });
}

// From issue #472: connection_lost() during the handshake wakes the waiter
// with its exception (a reset, here).
TEST(SSLProto, test_connection_lost) {
  run_net([](NetLoop&) -> Coroutine<> {
    std::exception_ptr e = co_await connect_to_breaking_peer(true);
    EXPECT_TRUE(is_errno(e, std::errc::connection_reset)) << what(e);
    EXPECT_FALSE(Calls::made);
    EXPECT_FALSE(Calls::lost);
  });
}

// bpo-29970: wait_for() cancels a handshake the server never answers; the
// server sees the connection closed; nothing is reported (bpo-23197).
TEST(SSLProto, test_handshake_timeout) {
  int port = 0;
  const int listener = net_test::raw_listener(port);
  ASSERT_GE(listener, 0);
  std::weak_ptr<Recorder> weak_proto;
  {
    TestLoop t;  // virtual time
    auto main = [](int port, std::weak_ptr<Recorder>* weak) -> Coroutine<std::exception_ptr> {
      ssl::SSLContext cctx = simple_client_sslcontext();
      auto factory = [weak] {
        auto p = std::make_shared<Recorder>();
        *weak = p;
        return p;
      };
      Conn c = create_connection(get_running_loop(), factory, "127.0.0.1", port,
                                 {.ssl = &cctx, .server_hostname = "", .ssl_handshake_timeout = 60.0});
      co_return co_await asyncio_test::raises(wait_for(std::move(c), 0.5));
    };
    std::exception_ptr e = t.loop.run_until_complete(main(port, &weak_proto));
    EXPECT_TRUE(holds<TimeoutError>(e)) << what(e);
    t.run_briefly();
    EXPECT_TRUE(t.log.calls.empty());
    // The handshake timer (60 s) keeps nothing alive (≙ the weakref check).
    EXPECT_TRUE(weak_proto.expired());
  }
  const int fd = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  const timeval limit{10, 0};  // a failure, not a hang, if the client kept it open
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
  }
  EXPECT_EQ(n, 0);  // ≙ server_side_aborted: the ClientHello, then EOF
  ::close(fd);
  ::close(listener);
}

// The same through a context that verifies (≙ test_ssl's version, where the
// context is a default one and must be released).
TEST(SSLProto, test_handshake_timeout_handler_leak) {
  int port = 0;
  const int listener = net_test::raw_listener(port);
  ASSERT_GE(listener, 0);
  TestLoop t;
  std::weak_ptr<Recorder> weak_proto;
  auto main = [](int port, std::weak_ptr<Recorder>* weak) -> Coroutine<std::exception_ptr> {
    ssl::SSLContext ctx = ssl::create_default_context();
    auto factory = [weak] {
      auto p = std::make_shared<Recorder>();
      *weak = p;
      return p;
    };
    Conn c = create_connection(get_running_loop(), factory, "127.0.0.1", port, {.ssl = &ctx});
    co_return co_await asyncio_test::raises(wait_for(std::move(c), 0.1));
  };
  std::exception_ptr e = t.loop.run_until_complete(main(port, &weak_proto));
  EXPECT_TRUE(holds<TimeoutError>(e)) << what(e);
  t.run_briefly();
  EXPECT_TRUE(weak_proto.expired());  // ≙ "SSLProtocol should be DECREF to 0"
  EXPECT_TRUE(t.log.calls.empty());
  ::close(listener);
}

// A client that verifies against no CA: SSLCertVerificationError.
TEST(SSLProto, test_create_connection_ssl_failed_certificate) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    ssl::SSLContext client_sslctx(ssl::PROTOCOL_TLS_CLIENT);  // ≙ simple_client_sslcontext(disable_verify=False)
    client_sslctx.check_hostname(false);
    Coroutine<std::pair<StreamReader, StreamWriter>> open = open_connection(
        "127.0.0.1", port_of(server), {.ssl = &client_sslctx, .server_hostname = "", .ssl_handshake_timeout = 20.0});
    std::exception_ptr e = co_await asyncio_test::raises(std::move(open));
    EXPECT_TRUE(holds<ssl::SSLCertVerificationError>(e)) << what(e);
    co_await net_test::close_server(server);
  });
}

// ---- data after the handshake ----------------------------------------------------------

namespace {

/// ≙ test_start_tls_client_corrupted_ssl's server: TLS, "A\n", one byte
/// read, then plaintext garbage sent on the socket under the TLS layer
/// (≙ `orig_sock.send(...)` on a dup of the socket).
Coroutine<> corrupting_server(StreamReader reader, StreamWriter writer) {
  writer.write("A\n");
  co_await reader.readexactly(1);
  const int fd = std::any_cast<TransportSocket>(writer.get_extra_info("socket")).fileno();
  const char garbage[] = "please corrupt the SSL connection";
  EXPECT_EQ(::send(fd, garbage, sizeof garbage - 1, 0), static_cast<ssize_t>(sizeof garbage - 1));
  // The client's side fails; ours sees it go (EOF or a reset).
  try {
    co_await reader.read();
  } catch (const std::system_error&) {
  }
  writer.close();
}

}  // namespace

TEST(SSLProto, test_start_tls_client_corrupted_ssl) {
  run_net([](NetLoop&) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Server server = co_await start_server(corrupting_server, "127.0.0.1", 0, {.ssl = &sctx});
    ssl::SSLContext client_sslctx = simple_client_sslcontext();
    auto [reader, writer] =
        co_await open_connection("127.0.0.1", port_of(server), {.ssl = &client_sslctx, .server_hostname = ""});
    EXPECT_EQ(co_await reader.readline(), "A\n");
    writer.write("B");
    std::exception_ptr e = co_await asyncio_test::raises(reader.readline());
    EXPECT_TRUE(holds<ssl::SSLError>(e)) << what(e);
    writer.close();
    co_await net_test::close_server(server);
  });
}

// ---- closing, against CPython's blocking `ssl` peers (test_ssl.py) --------------------

namespace {

constexpr double peer_timeout = 25;

// CPython's server functions of test_ssl.py, verbatim but for `assert` in
// place of self.assertEqual; argv: the function, the certificate, the key.
// Prints the port, serves one connection, prints "OK".
const char* const python_peers = R"PY(
import socket, ssl, sys, time

CHUNK = 1024 * 128
SIZE = 32
sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sslctx.load_cert_chain(sys.argv[2], sys.argv[3])

def recv_all(sock, n):
    buf = bytearray()  # (CPython's is bytes: quadratic, slow on 4 MiB)
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if data == b'':
            raise ConnectionAbortedError
        buf += data
    return bytes(buf)

def server(sock):  # test_remote_shutdown_receives_trailing_data
    incoming = ssl.MemoryBIO()
    outgoing = ssl.MemoryBIO()
    sslobj = sslctx.wrap_bio(incoming, outgoing, server_side=True)
    while True:
        try:
            sslobj.do_handshake()
        except ssl.SSLWantReadError:
            if outgoing.pending:
                sock.send(outgoing.read())
            incoming.write(sock.recv(16384))
        else:
            if outgoing.pending:
                sock.send(outgoing.read())
            break
    while True:
        try:
            data = sslobj.read(4)
        except ssl.SSLWantReadError:
            incoming.write(sock.recv(16384))
        else:
            break
    assert data == b'ping'
    sslobj.write(b'pong')
    sock.send(outgoing.read())
    time.sleep(0.2)  # wait for the peer to fill its backlog
    # send close_notify but don't wait for response
    try:
        sslobj.unwrap()
    except ssl.SSLWantReadError:
        pass
    else:
        raise AssertionError('unwrap() did not wait')
    sock.send(outgoing.read())
    # should receive all data
    data_len = 0
    while True:
        try:
            chunk = len(sslobj.read(16384))
            data_len += chunk
        except ssl.SSLWantReadError:
            incoming.write(sock.recv(16384))
        except ssl.SSLZeroReturnError:
            break
    assert data_len == CHUNK * SIZE, data_len
    # verify that close_notify is received
    sslobj.unwrap()
    sock.close()

def eof_server(sock):  # test_remote_shutdown_receives_trailing_data
    sock = sslctx.wrap_socket(sock, server_side=True)
    assert recv_all(sock, 4) == b'ping'
    sock.send(b'pong')
    time.sleep(0.2)  # wait for the peer to fill its backlog
    # send EOF
    sock.shutdown(socket.SHUT_WR)
    # should receive all data
    data = recv_all(sock, CHUNK * SIZE)
    assert len(data) == CHUNK * SIZE
    sock.close()

def flush_server(sock):  # test_flush_before_shutdown
    sock = sslctx.wrap_socket(sock, server_side=True)
    assert recv_all(sock, 4) == b'ping'
    sock.send(b'pong')
    time.sleep(0.5)  # hopefully stuck the TCP buffer
    data = recv_all(sock, CHUNK * SIZE)
    assert len(data) == CHUNK * SIZE
    sock.close()

def leak_server(sock):  # test_shutdown_timeout_handler_leak
    sock = sslctx.wrap_socket(sock, server_side=True)
    sock.recv(32)
    sock.close()

def not_set_server(sock):  # test_shutdown_timeout_handler_not_set
    sock = sslctx.wrap_socket(sock, server_side=True)
    sock.send(b'hello')
    assert sock.recv(1024) == b'world'
    sock.send(b'extra bytes')
    # sending EOF here
    sock.shutdown(socket.SHUT_WR)
    print('EOF', flush=True)
    # make sure we have enough time to reproduce the issue
    assert sock.recv(1024) == b''
    sock.close()

lsock = socket.create_server(('127.0.0.1', 0))
lsock.settimeout(20)
print(lsock.getsockname()[1], flush=True)
conn, _ = lsock.accept()
conn.settimeout(20)
globals()[sys.argv[1]](conn)
print('OK', flush=True)
)PY";

/// A CPython peer running `function`, its port read.
struct PythonPeer {
  Python py;
  int port = 0;
  explicit PythonPeer(const char* function)
      : py(python_peers, {function, tls_test::certs().server_cert, tls_test::certs().server_key}) {}
  Coroutine<bool> start() {
    const std::string line = co_await py.read_line(peer_timeout);
    if (!line.empty()) port = std::stoi(line);
    co_return port != 0;
  }
  /// Waits for the peer's end; true if it passed.
  Coroutine<bool> passed() {
    const int status = co_await py.wait(peer_timeout);
    co_return status == 0 && py.output().find("OK\n") != std::string::npos;
  }
};

/// Awaits `a`, taking a connection error (≙ BrokenPipeError,
/// ConnectionResetError) as the end it may be.
template <class A>
Coroutine<> ignoring_connection_errors(A a) {
  try {
    co_await std::move(a);
  } catch (const std::system_error& e) {
    const auto code = e.code();
    EXPECT_TRUE(code == std::errc::broken_pipe || code == std::errc::connection_reset) << e.what();
  }
}

constexpr std::size_t CHUNK = 1024 * 128;
constexpr int SIZE = 32;

/// ≙ test_remote_shutdown_receives_trailing_data's client(addr).
Coroutine<> trailing_data_client(const char* function) {
  PythonPeer peer(function);
  EXPECT_TRUE(co_await peer.start()) << peer.py.output();
  if (!peer.port) co_return;
  ssl::SSLContext client_sslctx = simple_client_sslcontext();
  auto [reader, writer] = co_await open_connection("127.0.0.1", peer.port, {.ssl = &client_sslctx, .server_hostname = ""});
  writer.write("ping");
  EXPECT_EQ(co_await reader.readexactly(4), "pong");
  // Fill the write backlog: the peer reads nothing yet (CPython appends to
  // its backlog directly; here the TLS layer and the socket transport keep
  // what the socket does not take).
  const std::string chunk(CHUNK, 'x');
  for (int i = 0; i < SIZE; ++i) writer.write(chunk);
  try {
    EXPECT_EQ(co_await reader.read(), "");
  } catch (const std::system_error& e) {
    EXPECT_TRUE(e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset) << e.what();
  }
  EXPECT_TRUE(co_await peer.passed()) << peer.py.output();
  writer.close();
  co_await ignoring_connection_errors(writer.wait_closed());
}

}  // namespace

// The peer sends close_notify (or a FIN) while our side still has 4 MiB to
// send: all of it reaches the peer before our close_notify.
TEST(SSLProto, test_remote_shutdown_receives_trailing_data) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop&) -> Coroutine<> { co_await trailing_data_client("server"); });
  run_net([](NetLoop&) -> Coroutine<> { co_await trailing_data_client("eof_server"); });
}

// close() while the socket transport has paused the TLS layer's writing:
// everything written before close() still goes out, then close_notify.
TEST(SSLProto, test_flush_before_shutdown) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop&) -> Coroutine<> {
    PythonPeer peer("flush_server");
    EXPECT_TRUE(co_await peer.start()) << peer.py.output();
    if (!peer.port) co_return;
    ssl::SSLContext client_sslctx = simple_client_sslcontext();
    auto [reader, writer] =
        co_await open_connection("127.0.0.1", peer.port, {.ssl = &client_sslctx, .server_hostname = ""});
    writer.write("ping");
    EXPECT_EQ(co_await reader.readexactly(4), "pong");
    // CPython calls the SSL protocol's pause_writing() itself; here the
    // socket transport does, as its buffer fills (the peer sleeps; the
    // kernel's buffers made small, so that they take little of it).
    const int fd = std::any_cast<TransportSocket>(writer.get_extra_info("socket")).fileno();
    const int small = 256 * 1024;
    EXPECT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    const std::string chunk(CHUNK, 'x');
    for (int i = 0; i < SIZE; ++i) writer.write(chunk);
    EXPECT_GT(writer.transport().get_write_buffer_size(), 0u);
    writer.close();
    co_await ignoring_connection_errors(writer.wait_closed());
    co_await ignoring_connection_errors(reader.read());
    EXPECT_TRUE(co_await peer.passed()) << peer.py.output();
  });
}

namespace {

/// ≙ test_shutdown_timeout_handler_*'s Protocol: connection_lost() into a
/// future; with `pausing`, answers "hello" with "world" and pauses reading.
struct LostProto : Protocol {
  Future<> fut = get_running_loop().create_future();
  std::shared_ptr<Transport> transport;
  bool pausing = false;
  std::string extra;
  void connection_made(Transport& t) override {
    if (pausing) transport = t.shared_from_this();
  }
  void data_received(std::string_view data) override {
    if (data == "hello") {
      transport->write("world");
      // pause reading would make incoming data stay in the sslobj
      transport->pause_reading();
    } else {
      extra = data;
    }
  }
  void connection_lost(std::exception_ptr exc) override {
    transport.reset();
    if (exc)
      fut.set_exception(exc);
    else
      fut.set_result();
  }
};

}  // namespace

// Once closed, the connection lets go of its protocol at once: the 30 s
// shutdown timer holds nothing (≙ the weakref on the context).
TEST(SSLProto, test_shutdown_timeout_handler_leak) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop& t) -> Coroutine<> {
    PythonPeer peer("leak_server");
    EXPECT_TRUE(co_await peer.start()) << peer.py.output();
    if (!peer.port) co_return;
    ssl::SSLContext ctx = simple_client_sslcontext();
    auto factory = [] { return std::make_shared<LostProto>(); };
    auto [tr, pr] = co_await create_connection(t.loop, factory, "127.0.0.1", peer.port, {.ssl = &ctx, .server_hostname = ""});
    tr->close();
    co_await pr->fut;
    std::weak_ptr<LostProto> weak = pr;
    std::weak_ptr<Transport> weak_tr = tr;
    pr.reset();
    tr.reset();
    EXPECT_TRUE(co_await net_test::until([&] { return weak.expired() && weak_tr.expired(); }));
    EXPECT_TRUE(co_await peer.passed()) << peer.py.output();
  });
}

// The peer sends data and EOF while the application has paused reading:
// after resume_reading() the data arrives, then connection_lost(None), not
// the shutdown timeout's error.
TEST(SSLProto, test_shutdown_timeout_handler_not_set) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop& t) -> Coroutine<> {
    PythonPeer peer("not_set_server");
    EXPECT_TRUE(co_await peer.start()) << peer.py.output();
    if (!peer.port) co_return;
    ssl::SSLContext ctx = simple_client_sslcontext();
    auto factory = [] {
      auto p = std::make_shared<LostProto>();
      p->pausing = true;
      return p;
    };
    auto [tr, pr] = co_await create_connection(t.loop, factory, "127.0.0.1", peer.port, {.ssl = &ctx, .server_hostname = ""});
    EXPECT_EQ(co_await peer.py.read_line(peer_timeout), "EOF");  // ≙ await eof.wait()
    co_await sleep(0.05);  // the EOF reaches the TLS layer while reading is paused
    tr->resume_reading();
    std::exception_ptr e = co_await asyncio_test::raises(pr->fut);
    EXPECT_FALSE(e) << what(e);
    tr->close();
    EXPECT_EQ(pr->extra, "extra bytes");
    EXPECT_TRUE(co_await peer.passed()) << peer.py.output();
  });
}

// ---- test_events: TLS servers and clients ---------------------------------------------

namespace {

/// ≙ test_events' check_ssl_extra_info(client, peername).
void check_ssl_extra_info(const Transport& client, const SocketAddress* peername) {
  if (peername) {
    EXPECT_EQ(std::any_cast<SocketAddress>(client.get_extra_info("peername")), *peername);
  }
  EXPECT_TRUE(client.get_extra_info("sockname").has_value());
  EXPECT_TRUE(client.get_extra_info("socket").has_value());
  EXPECT_TRUE(client.get_extra_info("sslcontext").has_value());
  EXPECT_TRUE(client.get_extra_info("ssl_object").has_value());
  EXPECT_TRUE(client.get_extra_info("cipher").has_value());
  EXPECT_TRUE(client.get_extra_info("peercert").has_value());
  EXPECT_TRUE(client.get_extra_info("compression").has_value());
  EXPECT_FALSE(client.get_extra_info("no such key").has_value());
}

/// ≙ test_events' _test_create_ssl_connection: a connection that verifies
/// nothing works; one through a default context (the system's CAs)
/// fails verification, reason CERTIFICATE_VERIFY_FAILED. `connect` is
/// create_connection() or create_unix_connection() bound to the server.
template <class Connect>
Coroutine<> test_create_ssl_connection_with(Connect connect, const SocketAddress* peername) {
  ssl::SSLContext dummy = dummy_ssl_context();
  auto [tr, pr] = co_await connect(&dummy);
  check_ssl_extra_info(*tr, peername);
  tr->write("GET / HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(co_await net_test::until([&] { return pr->data.size() >= 18; }));
  tr->close();
  EXPECT_TRUE(co_await net_test::until([&] { return pr->state == "CLOSED"; }));
  ssl::SSLContext real = ssl::create_default_context();
  real.check_hostname(false);
  std::exception_ptr e = co_await asyncio_test::raises(connect(&real));
  try {
    std::rethrow_exception(e);
  } catch (const ssl::SSLError& s) {
    EXPECT_EQ(s.reason(), "CERTIFICATE_VERIFY_FAILED");
  } catch (...) {
    ADD_FAILURE() << "not an SSLError: " << what(e);
  }
}

}  // namespace

TEST(SSLProto, test_create_ssl_connection) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    const SocketAddress address = server.sockets().at(0).getsockname();
    auto connect = [&t, &address](const ssl::SSLContext* ctx) {
      return create_connection(t.loop, recorder_factory(), "127.0.0.1", address.port, {.ssl = ctx});
    };
    co_await test_create_ssl_connection_with(connect, &address);
    co_await net_test::close_server(server);
  });
}

TEST(SSLProto, test_create_ssl_unix_connection) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    const std::string path = net_test::unix_path("ssl-unix-conn");
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, path);
    auto connect = [&t, &path](const ssl::SSLContext* ctx) {
      return create_unix_connection(t.loop, recorder_factory(), path, {.ssl = ctx, .server_hostname = "127.0.0.1"});
    };
    co_await test_create_ssl_connection_with(connect, nullptr);
    co_await net_test::close_server(server);
  });
}

namespace {

/// ≙ test_events.test_create_server_ssl / test_create_unix_server_ssl: the
/// client writes "xxx", the server's protocol counts 3 bytes; the server
/// side closes; both end CLOSED.
template <class Connect>
Coroutine<> test_create_server_ssl_with(Connect connect, Accepted& accepted, const SocketAddress* peername) {
  ssl::SSLContext dummy = dummy_ssl_context();
  auto [client, pr] = co_await connect(&dummy);
  client->write("xxx");
  EXPECT_TRUE(co_await net_test::until([&] { return !accepted.list.empty() && accepted.list[0]->data.size() > 0; }));
  if (accepted.list.empty()) co_return;
  auto proto = accepted.list[0];
  EXPECT_EQ(proto->state, "CONNECTED");
  EXPECT_EQ(proto->data.size(), 3u);
  if (peername) check_ssl_extra_info(*client, peername);
  proto->transport->close();
  EXPECT_TRUE(co_await net_test::until([&] { return proto->state == "CLOSED" && pr->state == "CLOSED"; }));
  EXPECT_FALSE(proto->lost_exc) << what(proto->lost_exc);
  client->close();
}

/// ≙ test_create_*server_ssl_verify_failed: no CA loaded on the client;
/// the server's protocol is never connected.
template <class Connect>
Coroutine<> test_create_server_ssl_verify_failed_with(Connect connect, Accepted& accepted) {
  ssl::SSLContext sslcontext_client(ssl::PROTOCOL_TLS_CLIENT);
  std::exception_ptr e = co_await asyncio_test::raises(connect(&sslcontext_client));
  EXPECT_TRUE(holds<ssl::SSLError>(e));
  EXPECT_NE(what(e).find("certificate verify failed"), std::string::npos) << what(e);
  co_await sleep(0.01);  // ≙ run_briefly: the server side's failure
  for (auto& p : accepted.list) EXPECT_FALSE(p->transport);
}

}  // namespace

TEST(SSLProto, test_create_server_ssl) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    accepted.echo = false;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    const SocketAddress address = server.sockets().at(0).getsockname();
    EXPECT_EQ(address.host, "127.0.0.1");
    auto connect = [&t, &address](const ssl::SSLContext* ctx) {
      return create_connection(t.loop, recorder_factory(), address.host, address.port, {.ssl = ctx});
    };
    co_await test_create_server_ssl_with(connect, accepted, &address);
    co_await net_test::close_server(server);
  });
}

TEST(SSLProto, test_create_unix_server_ssl) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    accepted.echo = false;
    const std::string path = net_test::unix_path("ssl-unix-server");
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, path);
    auto connect = [&t, &path](const ssl::SSLContext* ctx) {
      return create_unix_connection(t.loop, recorder_factory(), path, {.ssl = ctx, .server_hostname = ""});
    };
    co_await test_create_server_ssl_with(connect, accepted, nullptr);
    co_await net_test::close_server(server);
  });
}

TEST(SSLProto, test_create_unix_server_ssl_verify_failed) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    const std::string path = net_test::unix_path("ssl-unix-verify");
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, path);
    auto connect = [&t, &path](const ssl::SSLContext* ctx) {
      return create_unix_connection(t.loop, recorder_factory(), path, {.ssl = ctx, .server_hostname = "invalid"});
    };
    co_await test_create_server_ssl_verify_failed_with(connect, accepted);
    co_await net_test::close_server(server);
  });
}

// ---- test_ssl: many clients --------------------------------------------------------------

namespace {

constexpr int TOTAL_CNT = 25;
constexpr std::size_t DATA_SIZE = 256 * 1024;  // CPython: 1 MiB (BUF_MULTIPLIER)

Coroutine<> handle_client(int* cnt, StreamReader reader, StreamWriter writer) {
  const std::string a = co_await reader.readexactly(DATA_SIZE);
  EXPECT_TRUE(a == std::string(DATA_SIZE, 'A'));
  writer.write("OK");
  const std::string b = co_await reader.readexactly(DATA_SIZE);
  EXPECT_TRUE(b == std::string(DATA_SIZE, 'B'));
  writer.writelines({"SP", "A", "M"});
  co_await writer.drain();
  writer.close();
  ++*cnt;
}

/// ≙ test_create_connection_ssl_1's client(addr) / client_sock(addr): A,
/// "OK", B, "SPAM" over open_connection() (or over a socket connected
/// first, `sock=`).
Coroutine<int> ssl_1_client(int port, bool use_sock) {
  ssl::SSLContext client_sslctx = dummy_ssl_context();
  // (No co_await inside ?: : GCC 12 destroys its result twice; design-notes "Compilers".)
  ConnectionOptions options{.ssl = &client_sslctx, .server_hostname = "", .ssl_handshake_timeout = 20.0};
  if (use_sock) options.sock = net_test::raw_connect(port);
  Coroutine<std::pair<StreamReader, StreamWriter>> open =
      use_sock ? open_connection(options) : open_connection("127.0.0.1", port, options);
  auto [reader, writer] = co_await std::move(open);
  writer.write(std::string(DATA_SIZE, 'A'));
  EXPECT_EQ(co_await reader.readexactly(2), "OK");
  writer.write(std::string(DATA_SIZE, 'B'));
  EXPECT_EQ(co_await reader.readexactly(4), "SPAM");
  writer.close();
  co_await ignoring_connection_errors(writer.wait_closed());
  co_return 1;
}

Coroutine<int> run_clients(int port, bool use_sock) {
  std::vector<Coroutine<int>> all;
  for (int i = 0; i < TOTAL_CNT; ++i) all.push_back(ssl_1_client(port, use_sock));
  std::vector<int> ok = co_await gather(std::move(all));
  int n = 0;
  for (int x : ok) n += x;
  co_return n;
}

}  // namespace

// 25 clients at once against a TLS start_server(); the server answers with
// writelines().
TEST(SSLProto, test_create_server_ssl_1) {
  run_net([](NetLoop&) -> Coroutine<> {
    static int cnt;
    cnt = 0;
    ssl::SSLContext sctx = tls_test::server_context();
    auto handler = [](StreamReader r, StreamWriter w) { return handle_client(&cnt, std::move(r), std::move(w)); };
    Server server = co_await start_server(handler, "127.0.0.1", 0,
                                          {.family = AF_INET, .ssl = &sctx, .ssl_handshake_timeout = 20.0});
    EXPECT_FALSE(server.sockets().empty());
    EXPECT_EQ(co_await wait_for(run_clients(port_of(server), false), 60.0), TOTAL_CNT);
    co_await net_test::close_server(server);
    EXPECT_EQ(cnt, TOTAL_CNT);
  });
}

// The same from the client's side, through a host and port, then through
// connected sockets (`sock=`).
TEST(SSLProto, test_create_connection_ssl_1) {
  run_net([](NetLoop&) -> Coroutine<> {
    static int cnt;
    ssl::SSLContext sctx = tls_test::server_context();
    auto handler = [](StreamReader r, StreamWriter w) { return handle_client(&cnt, std::move(r), std::move(w)); };
    Server server = co_await start_server(handler, "127.0.0.1", 0, {.ssl = &sctx});
    for (bool use_sock : {false, true}) {
      cnt = 0;
      EXPECT_EQ(co_await run_clients(port_of(server), use_sock), TOTAL_CNT);
      EXPECT_TRUE(co_await net_test::until([] { return cnt == TOTAL_CNT; }));
    }
    co_await net_test::close_server(server);
  });
}

// ---- test_sslproto.SslProtoHandshakeTests, through the public API ------------------------

// "socket" comes from the socket transport while it is there; once the
// connection is lost, get_extra_info() gives the default.
TEST(SSLProto, test_get_extra_info_on_closed_connection) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    ssl::SSLContext cctx = dummy_ssl_context();
    auto [tr, pr] = co_await create_connection(t.loop, recorder_factory(), "127.0.0.1", port_of(server), {.ssl = &cctx});
    EXPECT_TRUE(tr->get_extra_info("socket").has_value());
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return pr->state == "CLOSED"; }));
    EXPECT_FALSE(tr->get_extra_info("socket").has_value());
    EXPECT_EQ(std::any_cast<int>(tr->get_extra_info("socket", 42)), 42);
    co_await net_test::close_server(server);
  });
}

TEST(SSLProto, test_set_new_app_protocol) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    ssl::SSLContext cctx = dummy_ssl_context();
    auto [tr, pr] = co_await create_connection(t.loop, recorder_factory(), "127.0.0.1", port_of(server), {.ssl = &cctx});
    EXPECT_EQ(tr->get_protocol(), pr);
    auto new_app_proto = std::make_shared<Recorder>();
    tr->set_protocol(new_app_proto);
    EXPECT_EQ(tr->get_protocol(), new_app_proto);
    tr->write("to the new one");  // the echo reaches the new protocol
    EXPECT_TRUE(co_await net_test::until([&] { return new_app_proto->data == "to the new one"; }));
    EXPECT_EQ(pr->data, "");
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return new_app_proto->state == "CLOSED"; }));
    EXPECT_EQ(pr->state, "CONNECTED");  // connection_made() went to the first, nothing else
    co_await net_test::close_server(server);
  });
}

// Data that arrives after close() (the server's echo, sent before it saw
// our close_notify) is not delivered and raises nothing out of the loop;
// the connection ends with OpenSSL's error, as CPython 3.13's does (checked:
// its connection_lost() gets the same SSLError, and data_received() nothing).
TEST(SSLProto, test_data_received_after_closing) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    ssl::SSLContext cctx = dummy_ssl_context();
    auto [tr, pr] = co_await create_connection(t.loop, recorder_factory(), "127.0.0.1", port_of(server), {.ssl = &cctx});
    tr->write(std::string(100000, 'd'));
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return pr->state == "CLOSED"; }));
    EXPECT_EQ(pr->data, "");
    EXPECT_TRUE(holds<ssl::SSLError>(pr->lost_exc));
    EXPECT_EQ(what(pr->lost_exc), "[SSL: APPLICATION_DATA_AFTER_CLOSE_NOTIFY] application data after close notify");
    co_await net_test::close_server(server);
  });
}

// write() after close() is silently dropped (≙ CPython: it only counts).
TEST(SSLProto, test_write_after_closing) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    ssl::SSLContext cctx = dummy_ssl_context();
    auto [tr, pr] = co_await create_connection(t.loop, recorder_factory(), "127.0.0.1", port_of(server), {.ssl = &cctx});
    tr->write("before");
    tr->close();
    EXPECT_NO_THROW(tr->write("data"));
    EXPECT_TRUE(co_await net_test::until([&] { return pr->state == "CLOSED"; }));
    EXPECT_TRUE(co_await net_test::until([&] { return accepted.list.at(0)->state == "CLOSED"; }));
    EXPECT_EQ(accepted.list.at(0)->data, "before");
    co_await net_test::close_server(server);
  });
}

// gh-113214: closing the outer TLS transport while the inner TLS (TLS in
// TLS) is in its handshake reports nothing; the inner start_tls() fails
// with a connection error.
TEST(SSLProto, test_close_during_ssl_over_ssl) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    accepted.echo = false;  // never answers the inner ClientHello
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    ssl::SSLContext cctx = dummy_ssl_context();
    auto [outer, pr] =
        co_await create_connection(t.loop, recorder_factory(), "127.0.0.1", port_of(server), {.ssl = &cctx});
    Task<std::shared_ptr<Transport>> inner = t.loop.create_task(start_tls(t.loop, outer, pr, cctx));
    EXPECT_TRUE(co_await net_test::until([&] { return !accepted.list.at(0)->data.empty(); }));  // the ClientHello
    outer->close();
    std::exception_ptr e = co_await asyncio_test::raises(inner);
    EXPECT_TRUE(holds<std::system_error>(e)) << what(e);
    co_await net_test::close_server(server);
  });
}

// ≙ test_sslproto.test_buf_feed_data (protocols._feed_data_to_buffered_proto):
// a BufferedProtocol fed through data_received() in as many pieces as its
// buffers take; an empty buffer is a RuntimeError.
TEST(SSLProto, test_buf_feed_data) {
  struct Proto : BufferedProtocol {
    std::vector<char> buf;
    std::string data;
    explicit Proto(std::size_t n) : buf(n) {}
    std::span<char> get_buffer(std::ptrdiff_t) override { return {buf.data(), buf.size()}; }
    void buffer_updated(std::size_t n) override { data.append(buf.data(), n); }
  };
  for (auto [size, input] : std::vector<std::pair<std::size_t, std::string>>{
           {1, "12345"}, {2, "12345"}, {2, "1234"}, {4, "1234"}, {100, "12345"}}) {
    Proto proto(size);
    proto.data_received(input);
    EXPECT_EQ(proto.data, input);
  }
  Proto empty(0);
  try {
    empty.data_received("12345");
    ADD_FAILURE() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "get_buffer() returned an empty buffer");
  }
}

// A TLS connection to a port nobody listens on: ConnectionRefusedError (or
// the timeout), and no socket left open (≙ "no ResourceWarning": run_net
// counts the descriptors).
TEST(SSLProto, test_connect_timeout_warning) {
  int port = 0;
  const int s = net_test::raw_listener(port);  // bound; closed again below, so nothing listens
  ASSERT_GE(s, 0);
  ::close(s);
  run_net([port](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext ctx = ssl::create_default_context();
    Conn c = create_connection(t.loop, recorder_factory(), "127.0.0.1", port, {.ssl = &ctx});
    std::exception_ptr e = co_await asyncio_test::raises(wait_for(std::move(c), 0.1));
    EXPECT_TRUE(is_errno(e, std::errc::connection_refused) || holds<TimeoutError>(e)) << what(e);
  });
}
