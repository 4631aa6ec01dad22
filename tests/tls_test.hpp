// asyncio-cpp: SPDX-License-Identifier: MIT
// Helpers for the TLS tests: certificates made at test time with the openssl
// command line (a CA, a server certificate for localhost and 127.0.0.1
// signed by it, an expired one, a self-signed one), and contexts over them.
#ifndef ASYNCIO_TESTS_TLS_TEST_HPP
#define ASYNCIO_TESTS_TLS_TEST_HPP

#include <asyncio/base_events.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/protocols.hpp>
#include <asyncio/ssl.hpp>
#include <asyncio/streams.hpp>
#include <asyncio/transports.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tls_test {

/// The files, made once per process in a directory of its own.
struct Certs {
  std::string dir, ca, server_cert, server_key, expired_cert, self_cert, self_key;
};

inline void run(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

inline const Certs& certs() {
  static const Certs c = [] {
    Certs c;
    c.dir = "/tmp/asyncio-tls-" + std::to_string(getpid());
    run("mkdir -p " + c.dir);
    std::ofstream(c.dir + "/ca.cnf") << "[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n"
                                        "[dn]\nCN = asyncio test CA\n[v3]\nbasicConstraints = critical,CA:TRUE\n"
                                        "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n";
    std::ofstream(c.dir + "/leaf.cnf") << "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
                                          "extendedKeyUsage = serverAuth,clientAuth\n"
                                          "subjectAltName = DNS:localhost,IP:127.0.0.1\n"
                                          "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
    const std::string d = c.dir + "/";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run("openssl req -x509" + ec + " -keyout " + d + "ca.key -out " + d + "ca.pem -days 30 -config " + d + "ca.cnf");
    run("openssl req -new" + ec + " -keyout " + d + "server.key -out " + d + "server.csr -subj /CN=localhost");
    run("openssl x509 -req -in " + d + "server.csr -CA " + d + "ca.pem -CAkey " + d + "ca.key -set_serial 2 -out " +
        d + "server.pem -days 30 -extfile " + d + "leaf.cnf");
    run("openssl x509 -req -in " + d + "server.csr -CA " + d + "ca.pem -CAkey " + d + "ca.key -set_serial 3 -out " +
        d + "expired.pem -days -1 -extfile " + d + "leaf.cnf");
    run("openssl req -x509" + ec + " -keyout " + d + "self.key -out " + d + "self.pem -days 30 -subj /CN=localhost" +
        " -addext subjectAltName=DNS:localhost,IP:127.0.0.1");
    c.ca = d + "ca.pem";
    c.server_cert = d + "server.pem";
    c.server_key = d + "server.key";
    c.expired_cert = d + "expired.pem";
    c.self_cert = d + "self.pem";
    c.self_key = d + "self.key";
    std::atexit([] { std::system(("rm -rf /tmp/asyncio-tls-" + std::to_string(getpid())).c_str()); });
    return c;
  }();
  return c;
}

/// A server context presenting `cert` (the CA-signed one by default).
inline asyncio::ssl::SSLContext server_context(const std::string& cert = {}, const std::string& key = {}) {
  asyncio::ssl::SSLContext ctx(asyncio::ssl::PROTOCOL_TLS_SERVER);
  ctx.load_cert_chain(cert.empty() ? certs().server_cert : cert, key.empty() ? certs().server_key : key);
  return ctx;
}

/// A client context trusting the test CA (≙ create_default_context(cafile=...)).
inline asyncio::ssl::SSLContext client_context() {
  return asyncio::ssl::create_default_context(asyncio::ssl::Purpose::SERVER_AUTH, certs().ca);
}

/// Records every callback (≙ test_events' MyProto).
struct Recorder : asyncio::Protocol {
  std::shared_ptr<asyncio::Transport> transport;
  std::string data;
  std::string state = "INITIAL";
  int eofs = 0;
  std::exception_ptr lost_exc;
  bool echo = false;
  void connection_made(asyncio::Transport& t) override {
    transport = t.shared_from_this();
    state = "CONNECTED";
  }
  void data_received(std::string_view d) override {
    data += d;
    if (echo) transport->write(d);
  }
  bool eof_received() override {
    ++eofs;
    state = "EOF";
    return false;
  }
  void connection_lost(std::exception_ptr e) override {
    lost_exc = e;
    state = "CLOSED";
    transport.reset();
  }
};

/// The server's protocols, in order of connection.
struct Accepted {
  std::vector<std::shared_ptr<Recorder>> list;
  bool echo = true;
  std::shared_ptr<Recorder> operator()() {
    auto p = std::make_shared<Recorder>();
    p->echo = echo;
    list.push_back(p);
    return p;
  }
};

/// A TLS server whose protocols `accepted` makes: on 127.0.0.1 (any port)
/// when `path` is empty, else on that Unix socket path.
inline asyncio::Coroutine<asyncio::Server> accepted_tls_server(asyncio::EventLoop& loop, Accepted& accepted,
                                                               const asyncio::ssl::SSLContext& sctx, std::string path) {
  auto factory = [&accepted] { return accepted(); };
  if (path.empty()) co_return co_await asyncio::create_server(loop, factory, "127.0.0.1", 0, {.ssl = &sctx});
  co_return co_await asyncio::create_unix_server(loop, factory, path, {.ssl = &sctx});
}

/// After a failed handshake: a verified client still gets "x" echoed by
/// the echoing TLS server on 127.0.0.1:`port` (the server goes on serving).
inline asyncio::Coroutine<> expect_still_serving(int port) {
  asyncio::ssl::SSLContext cctx = client_context();
  auto [reader, writer] =
      co_await asyncio::open_connection("127.0.0.1", port, {.ssl = &cctx, .server_hostname = "localhost"});
  writer.write("x");
  EXPECT_EQ(co_await reader.readexactly(1), "x");
  writer.close();
  co_await writer.wait_closed();
}

}  // namespace tls_test

#endif  // ASYNCIO_TESTS_TLS_TEST_HPP
