// echo_server: the streams echo server of the benchmark kit
// (../../shared/bench, workload tcp_echo), with the streams API: read what
// arrived, write it back, and drain(): a client that sends without reading
// makes the server wait instead of buffering without bound (uvloop's
// benchmark server does not drain; with a reading client drain() returns at
// once). TCP_NODELAY is on, as on every asyncio TCP connection.
//
// usage: echo_server PORT [CERT KEY]   (listens on 127.0.0.1:PORT until SIGTERM;
//        with a certificate and its key, over TLS: ssl=ctx)
//
// Python:
//   async def handle(reader, writer):
//       while data := await reader.read(102400):
//           writer.write(data)
//           await writer.drain()
//       writer.close()
//   server = await asyncio.start_server(handle, '127.0.0.1', port)
//   await server.serve_forever()
#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>

asyncio::Coroutine<> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    for (;;) {
      std::string data = co_await reader.read(102400);
      if (data.empty()) break;
      writer.write(data);
      co_await writer.drain();
    }
  } catch (const std::system_error&) {
    // The client reset the connection (ConnectionResetError): done with it.
  }
  writer.close();
}

asyncio::Coroutine<> serve(int port, std::optional<asyncio::ssl::SSLContext> tls) {
  asyncio::Server server = co_await asyncio::start_server(
      handle, "127.0.0.1", port, {.backlog = 1024, .limit = 1024 * 1024, .ssl = tls ? &*tls : nullptr});
  co_await server.serve_forever();
}

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 25000;
  std::optional<asyncio::ssl::SSLContext> tls;
  if (argc > 3) {
    // ≙ ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
    tls.emplace(asyncio::ssl::PROTOCOL_TLS_SERVER);
    tls->load_cert_chain(argv[2], argv[3]);
  }
  return asyncio::run_main(serve(port, std::move(tls)));  // Ctrl-C: KeyboardInterrupt, exit 130, as Python
}
