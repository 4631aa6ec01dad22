// asyncio_udp_echo_server: the UDP echo server of benchmarks/peers/udp_echo.sh,
// in two forms: `protocol` (a DatagramProtocol whose datagram_received()
// sends the datagram back, ≙ CPython's EchoServerProtocol) and `stream`
// (a coroutine looping on co_await recvfrom() / co_await sendto() over a
// DatagramStream). 127.0.0.1 only; prints "PORT n" once bound; exits 0 on
// SIGTERM or SIGINT.
//
// usage: asyncio_udp_echo_server protocol|stream PORT
#include <asyncio/asyncio.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace {

class EchoServerProtocol : public asyncio::DatagramProtocol {
 public:
  void connection_made(asyncio::DatagramTransport& transport) override { transport_ = &transport; }
  void datagram_received(std::string_view data, const asyncio::SocketAddress& addr) override {
    transport_->sendto(data, addr);
  }

 private:
  asyncio::DatagramTransport* transport_ = nullptr;
};

int port_of(const std::any& sockname) { return std::any_cast<asyncio::SocketAddress>(sockname).port; }

void announce(int port) {
  std::printf("PORT %d\n", port);
  std::fflush(stdout);
}

/// Runs until SIGTERM / SIGINT.
asyncio::Coroutine<> until_signalled() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  asyncio::Future<> stop = loop.create_future();
  for (int sig : {SIGTERM, SIGINT})
    loop.add_signal_handler(sig, [stop]() mutable {
      if (!stop.done()) stop.set_result();
    });
  co_await stop;
}

asyncio::Coroutine<> serve_protocol(int port) {
  auto [transport, protocol] = co_await asyncio::create_datagram_endpoint(
      asyncio::get_running_loop(), [] { return std::make_shared<EchoServerProtocol>(); },
      {.local_addr = {"127.0.0.1", port}});
  announce(port_of(transport->get_extra_info("sockname")));
  co_await until_signalled();
  transport->close();
}

asyncio::Coroutine<> echo(asyncio::DatagramStream stream) {
  for (;;) {
    asyncio::Datagram d = co_await stream.recvfrom();
    co_await stream.sendto(d.first, d.second);
  }
}

asyncio::Coroutine<> serve_stream(int port) {
  asyncio::DatagramStream stream = co_await asyncio::open_datagram_endpoint({.local_addr = {"127.0.0.1", port}});
  announce(port_of(stream.get_extra_info("sockname")));
  asyncio::Task<> echoing = asyncio::create_task(echo(stream));
  co_await until_signalled();
  echoing.cancel();
  stream.close();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "protocol") != 0 && std::strcmp(argv[1], "stream") != 0)) {
    std::fprintf(stderr, "usage: %s protocol|stream PORT\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[2]);
  return asyncio::run_main(std::strcmp(argv[1], "protocol") == 0 ? serve_protocol(port) : serve_stream(port));
}
