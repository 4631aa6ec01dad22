// expect: GCC 12 destroys a lambda written inside a co_await expression twice
// compilers: gcc12
// Issue 16, case 2: the natural port of
// `loop.create_connection(lambda: Client(message, on_con_lost), host, port)`.
// GCC 12 copies the closure temporary bit by bit and destroys both copies
// (the captured string and Future are freed twice): the library refuses it
// under that compiler. clang compiles it, and it is correct there.
#include <asyncio/asyncio.hpp>

#include <memory>
#include <string>

struct Client : asyncio::Protocol {
  Client(std::string m, asyncio::Future<> f) : message(std::move(m)), done(std::move(f)) {}
  std::string message;
  asyncio::Future<> done;
};

asyncio::Coroutine<> connect(std::string message, asyncio::Future<> done, int port) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  auto [transport, protocol] = co_await asyncio::create_connection(
      loop, [=] { return std::make_shared<Client>(message, done); }, "127.0.0.1", port);
  transport->close();
}
