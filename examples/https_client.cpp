// https_client: an HTTPS request to a local TLS server that the example
// starts itself, with a certificate made for it by the openssl command
// line. Its Python twin is https_client.py (same output, byte for byte).
//
// Python:
//   ctx = ssl.create_default_context(cafile=cert)
//   reader, writer = await asyncio.open_connection('127.0.0.1', port, ssl=ctx,
//                                                  server_hostname='localhost')
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

/// A self-signed certificate for "localhost" in a fresh directory.
std::string make_certificate() {
  char dir[] = "/tmp/https-example-XXXXXX";
  if (!mkdtemp(dir)) return {};
  const std::string d = dir;
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                          " -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " +
                          d + "/key.pem -out " + d + "/cert.pem >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0 ? d : std::string();
}

/// A minimal HTTP/1.1 server: one response per connection.
asyncio::Coroutine<> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  std::string request = co_await reader.readuntil("\r\n\r\n");
  const std::string body = request.rfind("GET / ", 0) == 0 ? "Hello over TLS\n" : "Not found\n";
  writer.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n\r\n" + body);
  co_await writer.drain();
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coroutine<> amain(std::string dir) {
  asyncio::ssl::SSLContext server_ctx(asyncio::ssl::PROTOCOL_TLS_SERVER);
  server_ctx.load_cert_chain(dir + "/cert.pem", dir + "/key.pem");
  asyncio::Server server = co_await asyncio::start_server(handle, "127.0.0.1", 0, {.ssl = &server_ctx});
  const int port = server.sockets().at(0).getsockname().port;
  std::puts("server listening");

  // The client trusts that certificate and checks the name "localhost".
  asyncio::ssl::SSLContext ctx = asyncio::ssl::create_default_context(asyncio::ssl::Purpose::SERVER_AUTH,
                                                                      dir + "/cert.pem");
  auto [reader, writer] =
      co_await asyncio::open_connection("127.0.0.1", port, {.ssl = &ctx, .server_hostname = "localhost"});
  writer.write("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  const std::string response = co_await reader.read();  // to EOF (the server's close_notify)
  std::printf("%s\n", response.substr(0, response.find("\r\n")).c_str());
  std::printf("%s", response.substr(response.find("\r\n\r\n") + 4).c_str());
  auto tls = std::any_cast<std::shared_ptr<asyncio::ssl::SSLObject>>(writer.get_extra_info("ssl_object"));
  std::printf("%s\n", tls->version().value_or("?").c_str());
  writer.close();
  co_await writer.wait_closed();
  server.close();
  co_await server.wait_closed();
}

}  // namespace

int main() {
  const std::string dir = make_certificate();
  if (dir.empty()) {
    std::fputs("openssl failed\n", stderr);
    return 1;
  }
  const int status = asyncio::run_main(amain(dir));
  std::system(("rm -rf " + dir).c_str());
  return status;
}
