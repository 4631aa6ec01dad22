// Tests for include/asyncio/ssl.hpp and the TLS transport (src/sslproto.cpp):
// ports of Lib/test/test_asyncio/test_sslproto.py, test_ssl.py and the TLS
// cases of test_events.py / test_streams.py, named after them, over
// certificates made at test time (tls_test.hpp).
#include <asyncio/asyncio.hpp>

#include "net_test.hpp"
#include "tls_test.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace asyncio;
using asyncio_test::TestLoop;
using asyncio_test::what;
using net_test::NetLoop;
using net_test::port_of;
using net_test::run_net;
namespace ssl = asyncio::ssl;

using asyncio_test::holds;
using tls_test::Accepted;
using tls_test::Recorder;

// ---- SSLContext ------------------------------------------------------------------

TEST(SSLContext, defaults_as_python) {
  ssl::SSLContext client(ssl::PROTOCOL_TLS_CLIENT);
  EXPECT_TRUE(client.check_hostname());
  EXPECT_EQ(client.verify_mode(), ssl::CERT_REQUIRED);
  EXPECT_EQ(client.minimum_version(), ssl::TLSVersion::TLSv1_2);
  EXPECT_EQ(client.maximum_version(), ssl::TLSVersion::MAXIMUM_SUPPORTED);
  ssl::SSLContext server(ssl::PROTOCOL_TLS_SERVER);
  EXPECT_FALSE(server.check_hostname());
  EXPECT_EQ(server.verify_mode(), ssl::CERT_NONE);
  server.check_hostname(true);  // ≙ Python: also CERT_REQUIRED
  EXPECT_EQ(server.verify_mode(), ssl::CERT_REQUIRED);
  try {
    client.verify_mode(ssl::CERT_NONE);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
  }
  client.check_hostname(false);
  client.verify_mode(ssl::CERT_OPTIONAL);
  EXPECT_EQ(client.verify_mode(), ssl::CERT_OPTIONAL);
  client.minimum_version(ssl::TLSVersion::TLSv1_3);
  EXPECT_EQ(client.minimum_version(), ssl::TLSVersion::TLSv1_3);
  auto def = ssl::create_default_context();
  EXPECT_EQ(def.protocol(), ssl::PROTOCOL_TLS_CLIENT);
  EXPECT_TRUE(def.check_hostname());
  auto srv = ssl::create_default_context(ssl::Purpose::CLIENT_AUTH);
  EXPECT_EQ(srv.protocol(), ssl::PROTOCOL_TLS_SERVER);
  EXPECT_EQ(srv.verify_mode(), ssl::CERT_NONE);
}

TEST(SSLContext, errors_as_python) {
  ssl::SSLContext ctx(ssl::PROTOCOL_TLS_SERVER);
  try {
    ctx.set_ciphers("no-such-cipher");
    ADD_FAILURE() << "no error";
  } catch (const ssl::SSLError& e) {
    EXPECT_STREQ(e.what(), "No cipher can be selected.");
  }
  try {
    ctx.load_cert_chain("/nonexistent/cert.pem");
    ADD_FAILURE() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_STREQ(e.what(), "[Errno 2] No such file or directory");
  }
  try {
    ctx.load_verify_locations();
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "cafile, capath and cadata cannot be all omitted");
  }
  // A key that is not the certificate's.
  try {
    ctx.load_cert_chain(tls_test::certs().server_cert, tls_test::certs().self_key);
    ADD_FAILURE() << "no error";
  } catch (const ssl::SSLError& e) {
    EXPECT_EQ(e.library(), "X509");
    EXPECT_EQ(e.reason(), "KEY_VALUES_MISMATCH");
    EXPECT_STREQ(e.what(), "[X509: KEY_VALUES_MISMATCH] key values mismatch");
  }
  EXPECT_THROW(ctx.set_alpn_protocols({std::string(256, 'x')}), std::invalid_argument);
}

// ---- handshake, data both ways, close_notify -------------------------------------------

// ≙ test_events.test_create_server_ssl_verified: a verified connection, data
// both ways, the TLS extra info, and a clean close (close_notify) seen by
// the server as EOF.
TEST(SSLProto, test_create_server_ssl_verified) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    sctx.set_alpn_protocols({"h2", "http/1.1"});
    ssl::SSLContext cctx = tls_test::client_context();
    cctx.set_alpn_protocols({"http/1.1"});
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    auto [tr, client] = co_await create_connection(t.loop, client_factory, "127.0.0.1", port_of(server),
                                                   {.ssl = &cctx, .server_hostname = "localhost"});
    EXPECT_EQ(client->state, "CONNECTED");
    tr->write("hello ");
    tr->writelines({"TLS", " world"});
    EXPECT_TRUE(co_await net_test::until([&] { return client->data.size() == 15; }));
    EXPECT_EQ(client->data, "hello TLS world");
    // Extra info (≙ _SSLProtocolTransport.get_extra_info).
    auto obj = std::any_cast<std::shared_ptr<ssl::SSLObject>>(tr->get_extra_info("ssl_object"));
    EXPECT_EQ(obj->version(), "TLSv1.3");
    EXPECT_EQ(obj->selected_alpn_protocol(), "http/1.1");
    EXPECT_FALSE(obj->server_side());
    EXPECT_EQ(obj->server_hostname(), "localhost");
    auto cipher = std::any_cast<std::optional<ssl::SSLObject::Cipher>>(tr->get_extra_info("cipher"));
    EXPECT_TRUE(cipher && cipher->protocol == "TLSv1.3" && cipher->secret_bits >= 128);
    auto peercert = std::any_cast<std::optional<ssl::PeerCertificate>>(tr->get_extra_info("peercert"));
    EXPECT_TRUE(peercert.has_value());
    if (peercert) {
      EXPECT_EQ(peercert->subject.at(0).at(0), (std::pair<std::string, std::string>{"commonName", "localhost"}));
      EXPECT_EQ(peercert->issuer.at(0).at(0).second, "asyncio test CA");
      EXPECT_EQ(peercert->version, 3);
      EXPECT_EQ(peercert->serialNumber, "02");
      EXPECT_EQ(peercert->subjectAltName.at(0), (std::pair<std::string, std::string>{"DNS", "localhost"}));
      EXPECT_EQ(peercert->subjectAltName.at(1), (std::pair<std::string, std::string>{"IP Address", "127.0.0.1"}));
    }
    EXPECT_FALSE(std::any_cast<std::optional<std::string>>(tr->get_extra_info("compression")).has_value());
    EXPECT_TRUE(std::any_cast<ssl::SSLContext>(tr->get_extra_info("sslcontext")) == cctx);
    EXPECT_TRUE(tr->get_extra_info("peername").has_value());  // from the raw transport
    EXPECT_FALSE(tr->can_write_eof());
    EXPECT_THROW(tr->write_eof(), RuntimeError);  // ≙ NotImplementedError, a RuntimeError
    // The server side's view.
    EXPECT_EQ(accepted.list.size(), 1u);
    auto& srv = *accepted.list.at(0);
    EXPECT_EQ(srv.state, "CONNECTED");
    auto sobj = std::any_cast<std::shared_ptr<ssl::SSLObject>>(srv.transport->get_extra_info("ssl_object"));
    EXPECT_TRUE(sobj->server_side());
    EXPECT_EQ(sobj->selected_alpn_protocol(), "http/1.1");
    // CERT_NONE on the server: no client certificate asked.
    EXPECT_FALSE(std::any_cast<std::optional<ssl::PeerCertificate>>(srv.transport->get_extra_info("peercert")));
    // close(): close_notify, the server sees EOF, both lose the connection cleanly.
    tr->close();
    EXPECT_TRUE(tr->is_closing());
    EXPECT_TRUE(co_await net_test::until([&] { return client->state == "CLOSED" && srv.state == "CLOSED"; }));
    EXPECT_EQ(srv.eofs, 1);
    EXPECT_FALSE(srv.lost_exc);
    EXPECT_FALSE(client->lost_exc);
    EXPECT_EQ(srv.data, "hello TLS world");
    co_await net_test::close_server(server);
  });
}

// A megabyte each way at once: flow control on both sides, the records
// split and joined across reads.
TEST(SSLProto, LargeTransferBothWays) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    auto [tr, client] = co_await create_connection(t.loop, client_factory, "localhost", port_of(server),
                                                   {.family = AF_INET, .ssl = &cctx});
    const std::string payload = net_test::pattern(1 << 20);
    for (std::size_t i = 0; i < payload.size(); i += 10000) tr->write(std::string_view(payload).substr(i, 10000));
    EXPECT_TRUE(co_await net_test::until([&] { return client->data.size() >= payload.size(); }));
    EXPECT_TRUE(client->data == payload);
    EXPECT_TRUE(accepted.list.at(0)->data == payload);
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return client->state == "CLOSED"; }));
    co_await net_test::close_server(server);
  });
}

// ≙ test_ssl.test_create_connection_ssl_1 through streams:
// test_streams.test_open_connection_no_loop_ssl.
TEST(SSLProto, test_open_connection_no_loop_ssl) {
  run_net([](NetLoop&) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    Server server = co_await start_server(net_test::echo_lines, "127.0.0.1", 0, {.ssl = &sctx});
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server), {.ssl = &cctx});
    writer.write("GET / HTTP/1.0\r\n");
    std::string line = co_await reader.readline();
    EXPECT_EQ(line, "GET / HTTP/1.0\r\n");
    writer.write("second\n");
    EXPECT_EQ(co_await reader.readline(), "second\n");
    writer.close();
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
  });
}

// ---- handshake failures ------------------------------------------------------------

// ≙ test_events.test_create_server_ssl_verify_failed: no CA loaded.
TEST(SSLProto, test_create_server_ssl_verify_failed) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx(ssl::PROTOCOL_TLS_CLIENT);  // no CA
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>> connect =
        create_connection(t.loop, client_factory, "127.0.0.1", port_of(server), {.ssl = &cctx});
    std::exception_ptr e = co_await asyncio_test::raises(std::move(connect));
    EXPECT_TRUE(holds<ssl::SSLCertVerificationError>(e)) << what(e);
    EXPECT_EQ(what(e), "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer "
                       "certificate");
    try {
      std::rethrow_exception(e);
    } catch (const ssl::SSLCertVerificationError& v) {
      EXPECT_EQ(v.verify_code(), 20);  // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
      EXPECT_EQ(v.verify_message(), "unable to get local issuer certificate");
    } catch (...) {
    }
    // The server's side failed too (the client's alert): its protocol never
    // got connection_made.
    EXPECT_TRUE(co_await net_test::until([&] { return server.is_serving(); }));
    for (auto& p : accepted.list) EXPECT_EQ(p->state, "INITIAL");
    co_await net_test::close_server(server);
  });
}

// ≙ test_events.test_create_server_ssl_match_failed.
TEST(SSLProto, test_create_server_ssl_match_failed) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>> connect = create_connection(
        t.loop, client_factory, "127.0.0.1", port_of(server), {.ssl = &cctx, .server_hostname = "invalid"});
    std::exception_ptr e = co_await asyncio_test::raises(std::move(connect));
    EXPECT_TRUE(holds<ssl::SSLCertVerificationError>(e));
    EXPECT_EQ(what(e), "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate "
                       "is not valid for 'invalid'.");
    co_await net_test::close_server(server);
  });
}

// An IP address is checked as one (no SNI is sent for it).
TEST(SSLProto, IpAddressMismatch) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>> connect = create_connection(
        t.loop, client_factory, "127.0.0.1", port_of(server), {.ssl = &cctx, .server_hostname = "127.0.0.2"});
    std::exception_ptr e = co_await asyncio_test::raises(std::move(connect));
    EXPECT_EQ(what(e), "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch, "
                       "certificate is not valid for '127.0.0.2'.");
    co_await net_test::close_server(server);
  });
}

TEST(SSLProto, ExpiredCertificate) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context(tls_test::certs().expired_cert);
    ssl::SSLContext cctx = tls_test::client_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>> connect =
        create_connection(t.loop, client_factory, "localhost", port_of(server), {.family = AF_INET, .ssl = &cctx});
    std::exception_ptr e = co_await asyncio_test::raises(std::move(connect));
    EXPECT_EQ(what(e), "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired");
    co_await net_test::close_server(server);
  });
}

TEST(SSLProto, SelfSignedCertificate) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context(tls_test::certs().self_cert, tls_test::certs().self_key);
    ssl::SSLContext cctx = tls_test::client_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>> connect =
        create_connection(t.loop, client_factory, "127.0.0.1", port_of(server), {.ssl = &cctx});
    std::exception_ptr e = co_await asyncio_test::raises(std::move(connect));
    EXPECT_EQ(what(e), "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate");
    // Trusting it makes it work.
    ssl::SSLContext trusting = ssl::create_default_context(ssl::Purpose::SERVER_AUTH, tls_test::certs().self_cert);
    auto [tr, client] =
        co_await create_connection(t.loop, client_factory, "127.0.0.1", port_of(server), {.ssl = &trusting});
    EXPECT_EQ(client->state, "CONNECTED");
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return client->state == "CLOSED"; }));
    co_await net_test::close_server(server);
  });
}

// ≙ test_sslproto.test_create_connection_ssl_slow_handshake: a server that
// never answers the ClientHello; on virtual time.
TEST(SSLProto, test_create_connection_ssl_slow_handshake) {
  int port = 0;
  const int listener = net_test::raw_listener(port);
  ASSERT_GE(listener, 0);
  TestLoop t;  // virtual time
  ssl::SSLContext cctx = tls_test::client_context();
  auto main = [](EventLoop& loop, int port, ssl::SSLContext* cctx) -> Coroutine<std::exception_ptr> {
    (void)loop;
    Coroutine<std::pair<StreamReader, StreamWriter>> open = open_connection(
        "127.0.0.1", port, {.ssl = cctx, .server_hostname = "", .ssl_handshake_timeout = 1.0});
    co_return co_await asyncio_test::raises(std::move(open));
  };
  cctx.check_hostname(false);
  const double start = t.loop.time();
  std::exception_ptr e = t.loop.run_until_complete(main(t.loop, port, &cctx));
  EXPECT_TRUE(holds<std::system_error>(e));
  EXPECT_EQ(what(e), "SSL handshake is taking longer than 1.0 seconds: aborting the connection");
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& s) {
    EXPECT_EQ(s.code(), std::errc::connection_aborted);
  } catch (...) {
  }
  EXPECT_DOUBLE_EQ(t.loop.time() - start, 1.0);
  t.run_briefly();
  EXPECT_TRUE(t.log.calls.empty());  // ≙ assertEqual(messages, [])
  close(listener);
}

// The server side's handshake timeout: a client that connects and never
// sends a ClientHello is dropped after ssl_handshake_timeout (virtual time).
TEST(SSLProto, test_ssl_handshake_timeout) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    auto factory = [&accepted] { return accepted(); };
    Server server = co_await create_server(loop, factory, "127.0.0.1", 0, {.ssl = &sctx, .ssl_handshake_timeout = 5.0});
    const int fd = net_test::raw_connect(port_of(server));
    const double start = loop.time();
    // The server closes the connection at the timeout: recv() sees EOF.
    while (accepted.list.empty()) co_await sleep(0.5);
    co_await sleep(4.0);
    char c;
    EXPECT_EQ(::recv(fd, &c, 1, MSG_DONTWAIT), -1);  // still open at 4.5 s
    co_await sleep(1.0);
    EXPECT_GE(loop.time() - start, 5.0);
    co_await sleep(0);
    EXPECT_EQ(::recv(fd, &c, 1, 0), 0);
    EXPECT_EQ(accepted.list.at(0)->state, "INITIAL");
    ::close(fd);
    co_await net_test::close_server(server);
  };
  t.loop.run_until_complete(main(t.loop));
  t.run_briefly();
  EXPECT_TRUE(t.log.calls.empty());
}

// The ssl keyword checks of create_connection / create_server (≙
// test_sslproto.test_handshake_timeout_zero / _negative and
// test_events.test_create_connection_server_hostname_errors...).
TEST(SSLProto, test_handshake_timeout_zero_negative_and_misuse) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    ssl::SSLContext cctx = tls_test::client_context();
    auto f = [] { return std::make_shared<Recorder>(); };
    using Conn = Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>>;
    Conn c1 = create_connection(loop, f, "127.0.0.1", 1, {.ssl = &cctx, .ssl_handshake_timeout = 0.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c1))), "ssl_handshake_timeout should be a positive number, got 0.0");
    Conn c2 = create_connection(loop, f, "127.0.0.1", 1, {.ssl = &cctx, .ssl_handshake_timeout = -10.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c2))), "ssl_handshake_timeout should be a positive number, got -10.0");
    Conn c3 = create_connection(loop, f, "127.0.0.1", 1, {.server_hostname = "x"});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c3))), "server_hostname is only meaningful with ssl");
    Conn c4 = create_connection(loop, f, "127.0.0.1", 1, {.ssl_handshake_timeout = 1.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c4))), "ssl_handshake_timeout is only meaningful with ssl");
    Conn c5 = create_connection(loop, f, "127.0.0.1", 1, {.ssl_shutdown_timeout = 1.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c5))), "ssl_shutdown_timeout is only meaningful with ssl");
    Coroutine<Server> s1 = create_server(loop, f, "127.0.0.1", 0, {.ssl_handshake_timeout = 1.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(s1))), "ssl_handshake_timeout is only meaningful with ssl");
  };
  t.loop.run_until_complete(main(t.loop));
}

// A peer that sends an HTTP request instead of a ClientHello: the server
// drops it, reports nothing (an SSLError is an OSError), and goes on.
TEST(SSLProto, GarbageInsteadOfClientHello) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    const int fd = net_test::raw_connect(port_of(server));
    const char req[] = "GET / HTTP/1.0\r\n\r\n";
    EXPECT_EQ(::send(fd, req, sizeof req - 1, 0), static_cast<ssize_t>(sizeof req - 1));
    // The server answers with an alert, then closes.
    std::string got;
    EXPECT_TRUE(co_await net_test::until([&] {
      char buf[256];
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
      return n == 0 || (n < 0 && errno != EAGAIN);
    }));
    EXPECT_TRUE(got.empty() || got[0] == '\x15');  // nothing, or a TLS alert record
    ::close(fd);
    EXPECT_EQ(accepted.list.at(0)->state, "INITIAL");
    co_await tls_test::expect_still_serving(port_of(server));
    co_await net_test::close_server(server);
  });
}

// A client that aborts (no close_notify): the server sees EOF and closes
// cleanly, as CPython (eof_received in WRAPPED: FLUSHING, SHUTDOWN).
TEST(SSLProto, PeerClosesWithoutCloseNotify) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    auto [tr, client] = co_await create_connection(t.loop, client_factory, "127.0.0.1", port_of(server),
                                                   {.ssl = &cctx, .server_hostname = "localhost"});
    tr->write("bye");
    EXPECT_TRUE(co_await net_test::until([&] { return client->data == "bye"; }));
    tr->abort();
    auto& srv = *accepted.list.at(0);
    EXPECT_TRUE(co_await net_test::until([&] { return srv.state == "CLOSED" && client->state == "CLOSED"; }));
    EXPECT_EQ(srv.eofs, 1);
    co_await net_test::close_server(server);
  });
}

// A BufferedProtocol application over TLS.
namespace {
struct BufferedRecorder : BufferedProtocol {
  std::shared_ptr<Transport> transport;
  char buf[7];  // small on purpose: many get_buffer() calls
  std::string data;
  bool lost = false;
  void connection_made(Transport& t) override { transport = t.shared_from_this(); }
  std::span<char> get_buffer(std::ptrdiff_t) override { return {buf, sizeof buf}; }
  void buffer_updated(std::size_t n) override { data.append(buf, n); }
  void connection_lost(std::exception_ptr) override {
    lost = true;
    transport.reset();
  }
};
}  // namespace

TEST(SSLProto, BufferedProtocolOverTls) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<BufferedRecorder>(); };
    auto [tr, client] = co_await create_connection(t.loop, client_factory, "127.0.0.1", port_of(server),
                                                   {.ssl = &cctx, .server_hostname = "localhost"});
    const std::string payload = net_test::pattern(100000, 7);
    tr->write(payload);
    EXPECT_TRUE(co_await net_test::until([&] { return client->data.size() >= payload.size(); }));
    EXPECT_TRUE(client->data == payload);
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return client->lost; }));
    co_await net_test::close_server(server);
  });
}

namespace {

/// ≙ test_shutdown_cleanly's server: TLS, the client's data, "OK", then
/// unwrap() (close_notify sent and the client's awaited) and close.
Coroutine<> ok_then_unwrap(StreamReader reader, StreamWriter writer) {
  co_await reader.readexactly(1024);
  writer.write("OK");
  writer.close();
  co_await writer.wait_closed();
}

}  // namespace

// The server closes first: each of 25 clients reads "OK", then EOF (the
// server's close_notify), and closes cleanly.
TEST(SSLProto, test_shutdown_cleanly) {
  run_net([](NetLoop&) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    Server server = co_await start_server(ok_then_unwrap, "127.0.0.1", 0, {.ssl = &sctx});
    const int port = port_of(server);
    auto one = [](int port, ssl::SSLContext* cctx) -> Coroutine<int> {
      auto [reader, writer] = co_await open_connection("127.0.0.1", port, {.ssl = cctx, .server_hostname = "localhost"});
      writer.write(std::string(1024, 'A'));
      const std::string ok = co_await reader.readexactly(2);
      const std::string eof = co_await reader.read();
      writer.close();
      co_await writer.wait_closed();
      co_return ok == "OK" && eof.empty() ? 1 : 0;
    };
    std::vector<Coroutine<int>> all;
    for (int i = 0; i < 25; ++i) all.push_back(one(port, &cctx));
    std::vector<int> ok = co_await gather(std::move(all));
    int n = 0;
    for (int x : ok) n += x;
    EXPECT_EQ(n, 25);
    co_await net_test::close_server(server);
  });
}

// ---- start_tls ---------------------------------------------------------------------

namespace {

/// A STARTTLS server: "STARTTLS\n" answered "OK\n", then TLS, then echo.
Coroutine<> starttls_handler(StreamReader reader, StreamWriter writer) {
  std::string line = co_await reader.readline();
  if (line != "STARTTLS\n") {
    writer.close();
    co_return;
  }
  writer.write("OK\n");
  ssl::SSLContext sctx = tls_test::server_context();
  co_await writer.start_tls(sctx);
  Coroutine<> echo = net_test::echo_lines(reader, writer);
  co_await echo;
}

}  // namespace

// ≙ test_streams.test_start_tls: STARTTLS on a live stream, both sides
// through StreamWriter::start_tls().
TEST(SSLProto, test_start_tls) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(starttls_handler, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    EXPECT_FALSE(writer.get_extra_info("sslcontext").has_value());
    writer.write("STARTTLS\n");
    EXPECT_EQ(co_await reader.readline(), "OK\n");
    ssl::SSLContext cctx = tls_test::client_context();
    co_await writer.start_tls(cctx, {.server_hostname = "localhost"});
    EXPECT_TRUE(writer.get_extra_info("sslcontext").has_value());
    auto obj = std::any_cast<std::shared_ptr<ssl::SSLObject>>(writer.get_extra_info("ssl_object"));
    EXPECT_EQ(obj->version(), "TLSv1.3");
    writer.write("over TLS\n");
    EXPECT_EQ(co_await reader.readline(), "over TLS\n");
    writer.close();
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
  });
}

// ≙ test_ssl.test_create_server_ssl_over_ssl: TLS inside TLS, the inner
// session started with start_tls over the outer one.
TEST(SSLProto, test_create_server_ssl_over_ssl) {
  run_net([](NetLoop&) -> Coroutine<> {
    ssl::SSLContext outer_server = tls_test::server_context();
    Server server = co_await start_server(starttls_handler, "127.0.0.1", 0, {.ssl = &outer_server});
    ssl::SSLContext cctx = tls_test::client_context();
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server), {.ssl = &cctx});
    writer.write("STARTTLS\n");
    EXPECT_EQ(co_await reader.readline(), "OK\n");
    co_await writer.start_tls(cctx, {.server_hostname = "localhost"});
    const std::string big = std::string(60000, 'z') + "\n";  // under the reader's 64 KiB limit
    writer.write(big);
    EXPECT_TRUE(co_await reader.readline() == big);
    writer.close();
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
  });
}

// ≙ test_sslproto.test_start_tls_wrong_args / misuse.
TEST(SSLProto, test_start_tls_wrong_args) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext cctx = tls_test::client_context();
    Coroutine<std::shared_ptr<Transport>> none = start_tls(t.loop, nullptr, nullptr, cctx);
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(none))), "start_tls() needs a transport");
    Server server = co_await start_server(starttls_handler, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    // check_hostname without a name (≙ ValueError from wrap_bio).
    Coroutine<> no_name = writer.start_tls(cctx);
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(no_name))), "check_hostname requires server_hostname");
    Coroutine<> side = writer.start_tls(cctx, {.server_side = true});
    EXPECT_TRUE(holds<std::invalid_argument>(co_await asyncio_test::raises(std::move(side))));
    writer.close();
    co_await net_test::close_server(server);
  });
}

// A STARTTLS client whose server never answers the handshake: the
// handshake timeout closes the transport (virtual time).
TEST(SSLProto, test_start_tls_slow_client_cancel) {
  int port = 0;
  const int listener = net_test::raw_listener(port);
  ASSERT_GE(listener, 0);
  TestLoop t;
  auto main = [](int port) -> Coroutine<std::exception_ptr> {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    ssl::SSLContext cctx = tls_test::client_context();
    Coroutine<> up = writer.start_tls(cctx, {.server_hostname = "localhost", .ssl_handshake_timeout = 3.0});
    std::exception_ptr e = co_await asyncio_test::raises(std::move(up));
    EXPECT_TRUE(writer.is_closing());
    co_return e;
  };
  std::exception_ptr e = t.loop.run_until_complete(main(port));
  EXPECT_EQ(what(e), "SSL handshake is taking longer than 3.0 seconds: aborting the connection");
  // CPython's own case: start_tls() cancelled by wait_for() (0.5 s): the
  // TimeoutError propagates, the transport is closed.
  auto cancelled = [](int port) -> Coroutine<std::exception_ptr> {
    auto f = [] { return std::make_shared<Recorder>(); };
    auto [tr, proto] = co_await create_connection(get_running_loop(), f, "127.0.0.1", port);
    tr->write(std::string(1024 * 100, '1'));
    ssl::SSLContext cctx = tls_test::client_context();
    std::exception_ptr e = co_await asyncio_test::raises(
        wait_for(start_tls(get_running_loop(), tr, proto, cctx, {.server_hostname = "localhost"}), 0.5));
    EXPECT_TRUE(tr->is_closing());
    co_return e;
  };
  e = t.loop.run_until_complete(cancelled(port));
  EXPECT_TRUE(holds<TimeoutError>(e)) << what(e);
  t.run_briefly();
  EXPECT_TRUE(t.log.calls.empty());
  // The server's side: the first connection, then the second's hello,
  // ClientHello and EOF (≙ its recv_all() ending in ConnectionAbortedError).
  for (int i = 0; i < 2; ++i) {
    const int fd = ::accept(listener, nullptr, nullptr);
    ASSERT_GE(fd, 0);
    const timeval limit{10, 0};  // a failure, not a hang, if the client kept it open
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    char buf[65536];
    std::size_t total = 0;
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) total += static_cast<std::size_t>(n);
    EXPECT_EQ(n, 0);
    if (i == 1) {
      EXPECT_GT(total, 1024u * 100);  // the hello and a ClientHello
    }
    ::close(fd);
  }
  close(listener);
}

// ---- the other entry points ----------------------------------------------------------

// ≙ test_events.test_create_unix_server_ssl_verified and
// test_streams.test_open_unix_connection_no_loop_ssl.
TEST(SSLProto, test_create_unix_server_ssl_verified) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    const std::string path = net_test::unix_path("tls");
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, path);
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    auto [tr, client] =
        co_await create_unix_connection(t.loop, client_factory, path, {.ssl = &cctx, .server_hostname = "localhost"});
    tr->write("unix");
    EXPECT_TRUE(co_await net_test::until([&] { return client->data == "unix"; }));
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return client->state == "CLOSED"; }));
    // Streams over the same server kind.
    Server streams = co_await start_unix_server(net_test::echo_lines, path + "2", {.ssl = &sctx});
    auto [reader, writer] = co_await open_unix_connection(path + "2", {.ssl = &cctx, .server_hostname = "localhost"});
    writer.write("line\n");
    EXPECT_EQ(co_await reader.readline(), "line\n");
    writer.close();
    co_await writer.wait_closed();
    // ssl without server_hostname (≙ CPython's ValueError).
    Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>> bad =
        create_unix_connection(t.loop, client_factory, path, {.ssl = &cctx});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(bad))), "you have to pass server_hostname when using ssl");
    co_await net_test::close_server(server);
    co_await net_test::close_server(streams);
  });
}

// ≙ test_events.test_ssl_connect_accepted_socket: both ends of a socket
// pair, one through connect_accepted_socket(ssl=server), the other through
// create_connection(sock=, ssl=client).
TEST(SSLProto, test_ssl_connect_accepted_socket) {
  run_net([](NetLoop& t) -> Coroutine<> {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    auto server_factory = [] {
      auto p = std::make_shared<Recorder>();
      p->echo = true;
      return p;
    };
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    using Conn = Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>>;
    Conn server_side = connect_accepted_socket(t.loop, server_factory, fds[0], {.ssl = &sctx});
    Conn client_side = create_connection(t.loop, client_factory, {.sock = fds[1], .ssl = &cctx, .server_hostname = "localhost"});
    auto [a, b] = co_await gather(std::move(server_side), std::move(client_side));
    auto& [st, sp] = a;
    auto& [ct, cp] = b;
    EXPECT_EQ(sp->state, "CONNECTED");
    ct->write("pair");
    EXPECT_TRUE(co_await net_test::until([&] { return cp->data == "pair"; }));
    EXPECT_TRUE(std::any_cast<std::shared_ptr<ssl::SSLObject>>(st->get_extra_info("ssl_object"))->server_side());
    ct->close();
    EXPECT_TRUE(co_await net_test::until([&] { return cp->state == "CLOSED" && sp->state == "CLOSED"; }));
    // sock= with ssl and no server_hostname (≙ ValueError).
    Conn bad = create_connection(t.loop, client_factory, {.sock = 0, .ssl = &cctx});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(bad))),
              "You must set server_hostname when using ssl without a host");
  });
}

// ≙ test_events.test_connect_accepted_socket_ssl_timeout_for_plain_socket.
TEST(SSLProto, test_connect_accepted_socket_ssl_timeout_for_plain_socket) {
  TestLoop t;
  auto main = [](EventLoop& loop) -> Coroutine<> {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    auto f = [] { return std::make_shared<Recorder>(); };
    Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>> c =
        connect_accepted_socket(loop, f, fds[0], {.ssl_handshake_timeout = 1.0});
    EXPECT_EQ(what(co_await asyncio_test::raises(std::move(c))), "ssl_handshake_timeout is only meaningful with ssl");
    ::close(fds[0]);
    ::close(fds[1]);
  };
  t.loop.run_until_complete(main(t.loop));
}

// ---- SNI, client certificates ------------------------------------------------------------

// set_servername_callback: the callback sees the name the client sent and
// may switch the connection to another context, or refuse with an alert.
TEST(SSLProto, ServernameCallback) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext other = tls_test::server_context(tls_test::certs().self_cert, tls_test::certs().self_key);
    static std::vector<std::string> seen;
    seen.clear();
    sctx.set_servername_callback([other](ssl::SSLObject& obj, std::string_view name, ssl::SSLContext&) {
      seen.emplace_back(name);
      if (name == "refused.test") return ssl::ALERT_DESCRIPTION_UNRECOGNIZED_NAME;
      if (name == "localhost") obj.set_context(other);
      return 0;
    });
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    // Trusting only the self-signed certificate: works only if the switch happened.
    ssl::SSLContext trusting = ssl::create_default_context(ssl::Purpose::SERVER_AUTH, tls_test::certs().self_cert);
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    auto [tr, client] = co_await create_connection(t.loop, client_factory, "127.0.0.1", port_of(server),
                                                   {.ssl = &trusting, .server_hostname = "localhost"});
    EXPECT_EQ(client->state, "CONNECTED");
    tr->close();
    ssl::SSLContext nocheck = tls_test::client_context();
    nocheck.check_hostname(false);
    using Conn = Coroutine<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>>;
    Conn refused = create_connection(t.loop, client_factory, "127.0.0.1", port_of(server),
                                     {.ssl = &nocheck, .server_hostname = "refused.test"});
    std::exception_ptr e = co_await asyncio_test::raises(std::move(refused));
    EXPECT_EQ(what(e), "[SSL: TLSV1_UNRECOGNIZED_NAME] tlsv1 unrecognized name");
    EXPECT_EQ(seen, (std::vector<std::string>{"localhost", "refused.test"}));
    EXPECT_TRUE(co_await net_test::until([&] { return client->state == "CLOSED"; }));
    co_await net_test::close_server(server);
  });
}

// A server that requires client certificates (CERT_REQUIRED) sees the
// client's in "peercert".
TEST(SSLProto, ClientCertificateRequired) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    sctx.verify_mode(ssl::CERT_REQUIRED);
    sctx.load_verify_locations(tls_test::certs().ca);
    ssl::SSLContext cctx = tls_test::client_context();
    cctx.load_cert_chain(tls_test::certs().server_cert, tls_test::certs().server_key);
    Accepted accepted;
    Server server = co_await tls_test::accepted_tls_server(t.loop, accepted, sctx, "");
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    auto [tr, client] = co_await create_connection(t.loop, client_factory, "127.0.0.1", port_of(server),
                                                   {.ssl = &cctx, .server_hostname = "localhost"});
    tr->write("x");
    EXPECT_TRUE(co_await net_test::until([&] { return client->data == "x"; }));
    auto& srv = *accepted.list.at(0);
    auto peer = std::any_cast<std::optional<ssl::PeerCertificate>>(srv.transport->get_extra_info("peercert"));
    EXPECT_TRUE(peer && peer->subject.at(0).at(0).second == "localhost");
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return client->state == "CLOSED"; }));
    co_await net_test::close_server(server);
  });
}

// A loop closed with TLS connections still open (TLS in TLS too) leaks
// nothing: the layers let go of their protocols (ASan's leak check).
TEST(SSLProto, LoopClosedWithOpenTlsConnections) {
  const int before = net_test::count_fds();
  {
    NetLoop t;
    auto main = [](EventLoop& loop, Server& server, std::vector<std::shared_ptr<Transport>>& keep) -> Coroutine<> {
      static ssl::SSLContext sctx = tls_test::server_context();
      static ssl::SSLContext cctx = tls_test::client_context();
      auto factory = [] {
        auto p = std::make_shared<Recorder>();
        p->echo = true;
        return p;
      };
      server = co_await create_server(loop, factory, "127.0.0.1", 0, {.ssl = &sctx});
      auto client_factory = [] { return std::make_shared<Recorder>(); };
      auto [tr, client] = co_await create_connection(loop, client_factory, "127.0.0.1", port_of(server),
                                                     {.ssl = &cctx, .server_hostname = "localhost"});
      tr->write("x");
      EXPECT_TRUE(co_await net_test::until([&] { return client->data == "x"; }));
      // TLS in TLS on the same connection.
      std::shared_ptr<Transport> inner = co_await start_tls(loop, tr, client, cctx, {.server_hostname = "localhost"}) ;
      keep.push_back(inner);
    };
    Server server;
    std::vector<std::shared_ptr<Transport>> keep;
    // The inner handshake cannot finish (the server does not start TLS in
    // TLS): the coroutine is left waiting, the loop closed under it.
    Task<> task = t.loop.create_task(main(t.loop, server, keep));
    t.loop.run_until_complete(sleep(0.5));
    task.cancel();
    t.run_briefly();
    server.close();
  }
  EXPECT_EQ(net_test::count_fds(), before) << "file descriptors leaked";
}

// ---- closing ----------------------------------------------------------------------------

namespace {
/// A server protocol that never reads (so never answers close_notify).
struct Deaf : Recorder {
  void connection_made(Transport& t) override {
    Recorder::connection_made(t);
    t.pause_reading();
  }
};
}  // namespace

// ≙ test_ssl.test_shutdown_timeout_handler_*: a peer that never answers
// close_notify; after ssl_shutdown_timeout the transport is closed with
// TimeoutError("SSL shutdown timed out"), which connection_lost() gets.
TEST(SSLProto, test_shutdown_timeout) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    std::vector<std::shared_ptr<Deaf>> servers;
    auto factory = [&servers] {
      servers.push_back(std::make_shared<Deaf>());
      return servers.back();
    };
    Server server = co_await create_server(t.loop, factory, "127.0.0.1", 0, {.ssl = &sctx});
    auto client_factory = [] { return std::make_shared<Recorder>(); };
    auto [tr, client] = co_await create_connection(
        t.loop, client_factory, "127.0.0.1", port_of(server),
        {.ssl = &cctx, .server_hostname = "localhost", .ssl_shutdown_timeout = 0.3});
    const double start = t.loop.time();
    tr->close();
    EXPECT_TRUE(co_await net_test::until([&] { return client->state == "CLOSED"; }));
    EXPECT_GE(t.loop.time() - start, 0.25);
    EXPECT_TRUE(holds<TimeoutError>(client->lost_exc));
    EXPECT_EQ(what(client->lost_exc), "SSL shutdown timed out");
    servers.at(0)->transport->abort();
    co_await net_test::close_server(server);
  });
}

// ≙ test_sslproto.test_close_during_handshake: create_connection cancelled
// while the handshake waits; nothing is left open (run_net counts the fds).
TEST(SSLProto, test_close_during_handshake) {
  int port = 0;
  const int listener = net_test::raw_listener(port);
  ASSERT_GE(listener, 0);
  const int before = net_test::count_fds();
  {
    NetLoop t;
    auto main = [](int port) -> Coroutine<bool> {
      ssl::SSLContext cctx = tls_test::client_context();
      auto f = [] { return std::make_shared<Recorder>(); };
      Task<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Recorder>>> task = get_running_loop().create_task(
          create_connection(get_running_loop(), f, "127.0.0.1", port, {.ssl = &cctx, .server_hostname = "localhost"}));
      co_await sleep(0.2);  // connected; the ClientHello unanswered
      task.cancel();
      std::exception_ptr e = co_await asyncio_test::raises(task);
      co_return holds<CancelledError>(e);
    };
    EXPECT_TRUE(t.loop.run_until_complete(main(port)));
    t.run_briefly();
    t.loop.close();
    EXPECT_TRUE(t.log.calls.empty());
  }
  // The accepted (never served) connection is in the listener's backlog.
  const int accepted = ::accept(listener, nullptr, nullptr);
  if (accepted >= 0) ::close(accepted);
  EXPECT_EQ(net_test::count_fds(), before);
  ::close(listener);
}
