// echo_server_protocol: the benchmark kit's echo server with the protocol
// API (≙ an asyncio.Protocol whose data_received() writes the data back).
// The transport hands data_received() a view of its reused read buffer, and
// write() sends at once with uv_try_write: no copy, no allocation per
// message. Flow control as an asyncio protocol should have it: when the
// client stops reading and the write buffer passes its high-water mark,
// the transport calls pause_writing() and the protocol stops reading until
// resume_writing(), so the server's memory stays bounded.
//
// usage: echo_server_protocol PORT [CERT KEY]   (listens on 127.0.0.1:PORT until SIGTERM;
//        with a certificate and its key, over TLS: ssl=ctx)
//
// Python:
//   class EchoProtocol(asyncio.Protocol):
//       def connection_made(self, transport):
//           self.transport = transport
//       def data_received(self, data):
//           self.transport.write(data)
//       def pause_writing(self):
//           self.transport.pause_reading()
//       def resume_writing(self):
//           self.transport.resume_reading()
//   server = await loop.create_server(EchoProtocol, '127.0.0.1', port)
//   await server.serve_forever()
#include <asyncio/asyncio.hpp>
#include <asyncio/base_events.hpp>
#include <asyncio/protocols.hpp>
#include <asyncio/transports.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <memory>

class EchoProtocol : public asyncio::Protocol {
 public:
  void connection_made(asyncio::Transport& transport) override { transport_ = &transport; }
  void data_received(std::string_view data) override { transport_->write(data); }
  void pause_writing() override { transport_->pause_reading(); }
  void resume_writing() override { transport_->resume_reading(); }
  void connection_lost(std::exception_ptr) override { transport_ = nullptr; }

 private:
  asyncio::Transport* transport_ = nullptr;  // valid until connection_lost()
};

asyncio::Coroutine<> serve(int port, std::optional<asyncio::ssl::SSLContext> tls) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  asyncio::Server server = co_await asyncio::create_server(
      loop, [] { return std::make_shared<EchoProtocol>(); }, "127.0.0.1", port,
      {.backlog = 1024, .ssl = tls ? &*tls : nullptr});
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
