// TLS interop (issue 13): our client and servers against a Python 3.13
// asyncio TLS peer and against `openssl s_server` / `s_client`, both ways,
// on loopback and bounded in time; renegotiation refused; 1,000 concurrent
// TLS connections. (≙ the peers of Lib/test/test_asyncio/test_ssl.py.)
#include <asyncio/asyncio.hpp>

#include "net_test.hpp"
#include "tls_test.hpp"

#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::what;
using net_test::NetLoop;
using net_test::port_of;
using net_test::Python;
using net_test::run_net;
namespace ssl = asyncio::ssl;

namespace {

constexpr double peer_timeout = 25;

bool have(const char* check) {
  return std::system((std::string(check) + " >/dev/null 2>&1").c_str()) == 0;
}
bool have_python() {
  static const bool ok = have("python3 -c 'import asyncio, ssl'");
  return ok;
}
bool have_openssl() {
  static const bool ok = have("openssl version");
  return ok;
}

// Runs a program through python3 (os.execvp), so that net_test::Python's
// bounded child handling serves for openssl too.
const char* const exec_script = "import os, sys; os.execvp(sys.argv[1], sys.argv[1:])";

// A Python asyncio TLS echo server of lines: prints its port, serves one
// client, then exits.
const char* const python_server = R"PY(
import asyncio, ssl, sys

async def main(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    done = asyncio.Event()
    async def handle(reader, writer):
        while line := await reader.readline():
            writer.write(line[::-1][1:] + b'\n' if line.endswith(b'\n') else line)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        done.set()
    server = await asyncio.start_server(handle, '127.0.0.1', 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.wait_for(done.wait(), 20)
    server.close()
    await server.wait_closed()

asyncio.run(main(sys.argv[1], sys.argv[2]))
)PY";

// A Python asyncio TLS client: sends lines and a large blob to our echo
// server, checks them, closes cleanly (close_notify), prints "OK <cipher>".
const char* const python_client = R"PY(
import asyncio, ssl, sys

async def main(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    reader, writer = await asyncio.open_connection('127.0.0.1', port, ssl=ctx, server_hostname='localhost')
    for i in range(100):
        line = b'line %d\n' % i
        writer.write(line)
        if await reader.readline() != line:
            print('MISMATCH', i, flush=True); sys.exit(1)
    blob = bytes(range(256)) * 200 + b'\n'
    writer.write(blob)
    await writer.drain()
    if await reader.readexactly(len(blob)) != blob:
        print('BLOB MISMATCH', flush=True); sys.exit(1)
    cipher = writer.get_extra_info('cipher')[0]
    writer.close()
    await writer.wait_closed()
    print('OK', cipher, flush=True)

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
)PY";

/// A free loopback port (bound, then released).
int free_port() {
  int port = 0;
  const int fd = net_test::raw_listener(port);
  ::close(fd);
  return port;
}

Coroutine<> echo_raw_lines(StreamReader reader, StreamWriter writer) {
  for (;;) {
    std::string data = co_await reader.read(65536);
    if (data.empty()) break;
    writer.write(data);
    co_await writer.drain();
  }
  writer.close();
}

}  // namespace

TEST(TlsInterop, PythonClientAgainstOurTlsServer) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop&) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    Server server = co_await start_server(echo_raw_lines, "127.0.0.1", 0, {.ssl = &sctx});
    Python py(python_client, {std::to_string(port_of(server)), tls_test::certs().ca});
    EXPECT_TRUE(py.started());
    const int status = co_await py.wait(peer_timeout);
    EXPECT_EQ(status, 0) << py.output();
    EXPECT_EQ(py.output().rfind("OK TLS_", 0), 0u) << py.output();
    co_await net_test::close_server(server);
  });
}

TEST(TlsInterop, OurClientAgainstPythonTlsServer) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop&) -> Coroutine<> {
    Python py(python_server, {tls_test::certs().server_cert, tls_test::certs().server_key});
    const std::string port_line = co_await py.read_line(peer_timeout);
    EXPECT_FALSE(port_line.empty()) << py.output();
    if (port_line.empty()) co_return;
    ssl::SSLContext cctx = tls_test::client_context();
    auto [reader, writer] =
        co_await open_connection("127.0.0.1", std::stoi(port_line), {.ssl = &cctx, .server_hostname = "localhost"});
    for (int i = 0; i < 50; ++i) {
      const std::string line = "abc" + std::to_string(i);
      writer.write(line + "\n");
      EXPECT_EQ(co_await reader.readline(), std::string(line.rbegin(), line.rend()) + "\n");
    }
    auto peercert = std::any_cast<std::optional<ssl::PeerCertificate>>(writer.get_extra_info("peercert"));
    EXPECT_TRUE(peercert && peercert->subject.at(0).at(0).second == "localhost");
    writer.close();
    co_await writer.wait_closed();
    EXPECT_EQ(co_await py.wait(peer_timeout), 0) << py.output();
  });
}

// `openssl s_server -rev` answers each line reversed.
TEST(TlsInterop, OurClientAgainstOpensslServer) {
  if (!have_openssl() || !have_python()) GTEST_SKIP() << "openssl or python3 not found";
  run_net([](NetLoop&) -> Coroutine<> {
    const int port = free_port();
    const auto& c = tls_test::certs();
    Python server(exec_script, {"timeout", "20", "openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                                "-cert", c.server_cert, "-key", c.server_key, "-rev", "-naccept", "1"});
    std::string line;
    while ((line = co_await server.read_line(peer_timeout)) != "ACCEPT" && !line.empty()) {
    }
    EXPECT_EQ(line, "ACCEPT") << server.output();
    ssl::SSLContext cctx = tls_test::client_context();
    auto [reader, writer] = co_await open_connection("127.0.0.1", port, {.ssl = &cctx, .server_hostname = "localhost"});
    writer.write("hello openssl\n");
    EXPECT_EQ(co_await reader.readline(), "lssnepo olleh\n");
    writer.close();
    co_await writer.wait_closed();
    co_await server.wait(peer_timeout);
  });
}

// `openssl s_client` against our server: it prints what our echo sends back.
TEST(TlsInterop, OpensslClientAgainstOurServer) {
  if (!have_openssl() || !have_python()) GTEST_SKIP() << "openssl or python3 not found";
  run_net([](NetLoop&) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    auto once = [](StreamReader reader, StreamWriter writer) -> Coroutine<> {
      std::string line = co_await reader.readline();
      writer.write("echo: " + line);
      co_await writer.drain();
      writer.close();
    };
    Server server = co_await start_server(once, "127.0.0.1", 0, {.ssl = &sctx});
    const std::string script =
        "import subprocess, sys; r = subprocess.run(sys.argv[1:], input=b'from s_client\\n', capture_output=True, "
        "timeout=20); sys.stdout.write(r.stdout.decode()); sys.stdout.flush()";
    Python client(script, {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port_of(server)), "-CAfile",
                           tls_test::certs().ca, "-servername", "localhost", "-verify_return_error", "-quiet",
                           "-ign_eof"});
    EXPECT_EQ(co_await client.wait(peer_timeout), 0);
    EXPECT_EQ(client.output(), "echo: from s_client\n");
    co_await net_test::close_server(server);
  });
}

// A TLS 1.2 client asking to renegotiate (`R` in s_client) is refused: the
// connection does not renegotiate (departure: CPython allows it unless
// OP_NO_RENEGOTIATION), and our server stays up.
TEST(TlsInterop, RenegotiationRefused) {
  if (!have_openssl() || !have_python()) GTEST_SKIP() << "openssl or python3 not found";
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    // The refused client ends the session with a fatal alert: the reader
    // raises it as an SSLError.
    static std::string seen;
    seen.clear();
    auto handler = [](StreamReader reader, StreamWriter writer) -> Coroutine<> {
      try {
        Coroutine<> echo = echo_raw_lines(reader, writer);
        co_await echo;
      } catch (const ssl::SSLError& e) {
        seen = e.what();
      }
    };
    Server server = co_await start_server(handler, "127.0.0.1", 0, {.ssl = &sctx});
    const std::string script =
        "import subprocess, sys, time\n"
        "p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
        "p.stdin.write(b'before\\n'); p.stdin.flush(); time.sleep(0.5)\n"
        "p.stdin.write(b'R\\n'); p.stdin.flush(); time.sleep(0.5)\n"
        "try:\n  p.stdin.write(b'after\\n'); p.stdin.flush(); p.stdin.close()\nexcept OSError: pass\n"
        "out = p.communicate(timeout=20)[0].decode(errors='replace')\n"
        "print('RENEGOTIATING' in out, 'before' in out, 'no renegotiation' in out, flush=True)\n";
    Python client(script, {"openssl", "s_client", "-tls1_2", "-connect", "127.0.0.1:" + std::to_string(port_of(server)),
                           "-CAfile", tls_test::certs().ca, "-servername", "localhost"});
    EXPECT_EQ(co_await client.wait(peer_timeout), 0);
    EXPECT_EQ(client.output(), "True True True\n");
    EXPECT_EQ(seen, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure");
    co_await tls_test::expect_still_serving(port_of(server));
    (void)t;
    co_await net_test::close_server(server);
  });
}

// 1,000 TLS connections at once against one of our servers, each echoing a
// line; bounded by the test's own deadline.
TEST(TlsInterop, ThousandConcurrentConnections) {
  run_net([](NetLoop& t) -> Coroutine<> {
    ssl::SSLContext sctx = tls_test::server_context();
    ssl::SSLContext cctx = tls_test::client_context();
    Server server = co_await start_server(net_test::echo_lines, "127.0.0.1", 0, {.backlog = 1000, .ssl = &sctx});
    const int port = port_of(server);
    auto one = [](int port, ssl::SSLContext* cctx, int i) -> Coroutine<int> {
      auto [reader, writer] = co_await open_connection("127.0.0.1", port, {.ssl = cctx, .server_hostname = "localhost"});
      const std::string line = "conn " + std::to_string(i) + "\n";
      writer.write(line);
      const std::string back = co_await reader.readline();
      writer.close();
      co_await writer.wait_closed();
      co_return back == line ? 1 : 0;
    };
    std::vector<Coroutine<int>> all;
    for (int i = 0; i < 1000; ++i) all.push_back(one(port, &cctx, i));
    const double start = t.loop.time();
    auto everything = gather(std::move(all));
    std::vector<int> ok = co_await wait_for(std::move(everything), 120.0);
    int n = 0;
    for (int x : ok) n += x;
    EXPECT_EQ(n, 1000);
    std::printf("1000 TLS connections (handshake, one line, close_notify) in %.2f s\n", t.loop.time() - start);
    co_await net_test::close_server(server);
  });
}
