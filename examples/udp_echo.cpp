// asyncio-cpp: SPDX-License-Identifier: MIT
// CPython's UDP echo server and client examples (asyncio-protocol.html), in
// one program on an ephemeral port; udp_echo.py is its Python twin, and the
// test example.udp_echo checks that the two print the same.
#include <asyncio/asyncio.hpp>

#include <any>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

class EchoServerProtocol : public asyncio::DatagramProtocol {
 public:
  void connection_made(asyncio::DatagramTransport& transport) override { transport_ = &transport; }
  void datagram_received(std::string_view data, const asyncio::SocketAddress& addr) override {
    const std::string message(data);
    std::printf("Received '%s'\nSend '%s'\n", message.c_str(), message.c_str());
    transport_->sendto(data, addr);
  }

 private:
  asyncio::DatagramTransport* transport_ = nullptr;
};

class EchoClientProtocol : public asyncio::DatagramProtocol {
 public:
  EchoClientProtocol(std::string message, asyncio::Future<bool> on_con_lost)
      : message_(std::move(message)), on_con_lost_(std::move(on_con_lost)) {}

  void connection_made(asyncio::DatagramTransport& transport) override {
    transport_ = &transport;
    std::printf("Send: %s\n", message_.c_str());
    transport_->sendto(message_);
  }
  void datagram_received(std::string_view data, const asyncio::SocketAddress&) override {
    std::printf("Received: %.*s\nClose the socket\n", static_cast<int>(data.size()), data.data());
    transport_->close();
  }
  void error_received(std::exception_ptr exc) override {
    try {
      std::rethrow_exception(exc);
    } catch (const std::exception& e) {
      std::printf("Error received: %s\n", e.what());
    }
  }
  void connection_lost(std::exception_ptr) override {
    std::printf("Connection closed\n");
    on_con_lost_.set_result(true);
  }

 private:
  std::string message_;
  asyncio::Future<bool> on_con_lost_;
  asyncio::DatagramTransport* transport_ = nullptr;
};

asyncio::Coroutine<> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  auto [server, server_protocol] = co_await asyncio::create_datagram_endpoint(
      loop, [] { return std::make_shared<EchoServerProtocol>(); }, {.local_addr = {"127.0.0.1", 0}});
  const int port = std::any_cast<asyncio::SocketAddress>(server->get_extra_info("sockname")).port;
  asyncio::Future<bool> on_con_lost = loop.create_future<bool>();
  // Named before the co_await: it captures a Future by value (GCC 12).
  auto make_client = [on_con_lost] { return std::make_shared<EchoClientProtocol>("Hello World!", on_con_lost); };
  auto [transport, protocol] =
      co_await asyncio::create_datagram_endpoint(loop, make_client, {.remote_addr = {"127.0.0.1", port}});
  co_await on_con_lost;
  transport->close();
  server->close();
}

int main() { return asyncio::run_main(amain()); }
