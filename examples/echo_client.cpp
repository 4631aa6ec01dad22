// echo_client: sends lines to an echo server and prints what comes back
// (≙ the TCP echo client of the asyncio streams documentation).
//
// usage: echo_client [--tls CAFILE] [HOST] PORT [COUNT]   (e.g. against echo_server or kv_server;
//        with --tls, over TLS, trusting CAFILE and checking HOST's name: against
//        `echo_server PORT CERT KEY`)
//
// Python:
//   reader, writer = await asyncio.open_connection(host, port)
//   (--tls: ctx = ssl.create_default_context(cafile=cafile);
//    reader, writer = await asyncio.open_connection(host, port, ssl=ctx))
//   writer.write(message.encode())
//   data = await reader.readline()
//   writer.close()
//   await writer.wait_closed()
#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

asyncio::Coroutine<> tcp_echo_client(std::string host, int port, int count, std::string cafile) {
  std::optional<asyncio::ssl::SSLContext> tls;
  if (!cafile.empty()) tls = asyncio::ssl::create_default_context(asyncio::ssl::Purpose::SERVER_AUTH, cafile);
  auto [reader, writer] = co_await asyncio::open_connection(host, port, {.ssl = tls ? &*tls : nullptr});
  for (int i = 0; i < count; ++i) {
    const std::string message = "Hello World! #" + std::to_string(i) + "\n";
    std::printf("Send: %s", message.c_str());
    writer.write(message);
    co_await writer.drain();
    std::string data = co_await reader.readline();
    std::printf("Received: %s", data.c_str());
  }
  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
}

int main(int argc, char** argv) {
  std::string cafile;
  if (argc > 2 && std::string(argv[1]) == "--tls") {
    cafile = argv[2];
    argv[2] = argv[0];
    argv += 2;
    argc -= 2;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s [--tls CAFILE] [HOST] PORT [COUNT]\n", argv[0]);
    return 2;
  }
  const bool has_host = argc > 2 && std::string(argv[1]).find_first_not_of("0123456789") != std::string::npos;
  const std::string host = has_host ? argv[1] : "127.0.0.1";
  const int port = std::atoi(argv[has_host ? 2 : 1]);
  const int count = argc > (has_host ? 3 : 2) ? std::atoi(argv[has_host ? 3 : 2]) : 3;
  // An error (ConnectionRefusedError...) ends the program as Python's
  // would: the traceback's last line on stderr, exit status 1.
  return asyncio::run_main(tcp_echo_client(host, port, count, cafile));
}
