// Boost.Asio echo server over TLS (ssl::stream<tcp::socket>), for
// benchmarks/peers/tls_echo.sh: the bench kit's Asio echo server
// (/work/shared/bench/peers/asio/echo_server.cpp) with the socket wrapped in
// an ssl::stream and nothing else changed: C++20 coroutines (co_spawn /
// use_awaitable), one io_context, one thread, per connection a server
// handshake, then async_read_some / async_write until EOF, then
// async_shutdown (close_notify, as our server and CPython's send). TLS 1.2
// and 1.3 allowed (ssl::context::tls_server; the client asks for 1.3 with
// TLS_AES_128_GCM_SHA256). Exits on SIGTERM or SIGINT.
//
// usage: asio_tls_echo_server PORT CERT KEY   (listens on 127.0.0.1:PORT)
// build: c++ -std=c++20 -O2 -DNDEBUG -pthread tls_echo_server.cpp -lssl -lcrypto
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

awaitable<void> echo(ssl::stream<tcp::socket> stream) {
  char data[65536];
  try {
    co_await stream.async_handshake(ssl::stream_base::server, use_awaitable);
    for (;;) {
      std::size_t n =
          co_await stream.async_read_some(asio::buffer(data), use_awaitable);
      co_await asio::async_write(stream, asio::buffer(data, n), use_awaitable);
    }
  } catch (const std::exception&) {
    // EOF (close_notify), truncation or reset: the connection is over
  }
  try {
    co_await stream.async_shutdown(use_awaitable);
  } catch (const std::exception&) {
    // the peer is gone already
  }
}

awaitable<void> listener(unsigned short port, ssl::context& tls) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acc(ex, {asio::ip::make_address("127.0.0.1"), port});
  for (;;) {
    tcp::socket s = co_await acc.async_accept(use_awaitable);
    s.set_option(tcp::no_delay(true));
    asio::co_spawn(ex, echo(ssl::stream<tcp::socket>(std::move(s), tls)),
                   asio::detached);
  }
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PORT CERT KEY\n", argv[0]);
    return 2;
  }
  unsigned short port = (unsigned short)std::atoi(argv[1]);
  ssl::context tls(ssl::context::tls_server);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3);
  tls.use_certificate_chain_file(argv[2]);
  tls.use_private_key_file(argv[3], ssl::context::pem);
  asio::io_context ctx{1};
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { ctx.stop(); });
  asio::co_spawn(ctx, listener(port, tls), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ctx.run();
}
