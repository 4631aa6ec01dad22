// Boost.Asio echo server on N threads, an io_context per thread (Asio's
// "io_context per core" model, the one asyncio-cpp's run_sharded() mirrors):
// each thread opens its own acceptor on the same port with SO_REUSEPORT, so
// the kernel spreads the connections over the threads and a connection stays
// on the io_context that accepted it. The connection handler is the bench
// kit's (../../shared/bench/peers/asio/echo_server.cpp): co_spawn,
// use_awaitable, async_read_some then async_write, TCP_NODELAY.
//
// usage: asio_echo_server_mt [--threads N] PORT   (N default 2; 127.0.0.1:PORT until killed)
// build: c++ -std=c++20 -O2 -DNDEBUG -pthread -o asio_echo_server_mt echo_server_mt.cpp
#include <boost/asio.hpp>

#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

awaitable<void> echo(tcp::socket sock) {
  char data[65536];
  try {
    for (;;) {
      std::size_t n = co_await sock.async_read_some(asio::buffer(data), use_awaitable);
      co_await asio::async_write(sock, asio::buffer(data, n), use_awaitable);
    }
  } catch (const std::exception&) {
    // EOF or reset: connection is over
  }
}

awaitable<void> listener(tcp::acceptor acc) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    tcp::socket s = co_await acc.async_accept(use_awaitable);
    s.set_option(tcp::no_delay(true));
    asio::co_spawn(ex, echo(std::move(s)), asio::detached);
  }
}

int main(int argc, char** argv) {
  int threads = 2;
  int a = 1;
  if (argc > 2 && std::strcmp(argv[1], "--threads") == 0) {
    threads = std::atoi(argv[2]);
    a = 3;
  }
  if (a + 1 != argc || threads < 1) {
    std::fprintf(stderr, "usage: asio_echo_server_mt [--threads N] PORT\n");
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[a]));
  const tcp::endpoint at{asio::ip::make_address("127.0.0.1"), port};
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    tcp::acceptor acc(*contexts.back());
    acc.open(at.protocol());
    acc.set_option(tcp::acceptor::reuse_address(true));
    acc.set_option(reuse_port(true));
    acc.bind(at);
    acc.listen(1024);
    asio::co_spawn(*contexts.back(), listener(std::move(acc)), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
  std::vector<std::thread> workers;
  for (auto& ctx : contexts) workers.emplace_back([&ctx] { ctx->run(); });
  for (auto& w : workers) w.join();
}
