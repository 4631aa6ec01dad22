// echo_server_sharded: examples/echo_server.cpp's streams echo on N loops, one
// thread each, every loop listening on the same port with SO_REUSEPORT
// (run_sharded() + start_server(..., {.reuse_port = true})): the kernel
// spreads the connections over the loops, and each connection stays on the
// loop that accepted it. The multi-core server of the tcp_echo benchmark
// (benchmarks/peers/multicore_echo.sh; docs/multicore.md).
//
// usage: echo_server_sharded
//            a self-test: 2 loops on an ephemeral port; 16 clients (on loop 0)
//            echo 100 messages each, then every loop stops (exits 0 when
//            every message came back whole, else 1)
//        echo_server_sharded [--loops N] PORT
//            serves 127.0.0.1:PORT on N loops (default: one per core) until
//            SIGINT or SIGTERM, then prints on stderr how many connections
//            each loop took and exits 0 (PORT 0: any free port, printed)
//
// Python (a process per core, as the multiprocessing docs would have it):
//   async def main():
//       server = await asyncio.start_server(handle, '127.0.0.1', port, reuse_port=True)
//       await server.serve_forever()
//   for _ in range(n): multiprocessing.Process(target=lambda: asyncio.run(main())).start()
#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

/// What one loop owns. `stop` is used only on that loop; the counter is
/// read by main() once the loops are gone.
struct Shard {
  asyncio::Event stop;
  std::atomic<int> connections{0};
};

std::vector<std::unique_ptr<Shard>> shards;
std::atomic<int> bound_port{0};  // the port shard 0 was given (PORT 0)
std::atomic<int> listening{0};
std::atomic<bool> self_test_passed{false};  // every message of the self-test echoed
thread_local Shard* this_shard = nullptr;

asyncio::Coroutine<> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  this_shard->connections.fetch_add(1, std::memory_order_relaxed);
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

/// Runs on shard `i`'s loop (through group.submit): its Event is its own.
asyncio::Coroutine<> stop_shard(int i) {
  shards[static_cast<std::size_t>(i)]->stop.set();
  co_return;
}

/// One client of the self-test: `count` messages, each echoed back whole.
asyncio::Coroutine<int> client(int port, int id, int count) {
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  int echoed = 0;
  for (int m = 0; m < count; ++m) {
    const std::string msg = "client " + std::to_string(id) + " message " + std::to_string(m) + "\n";
    writer.write(msg);
    co_await writer.drain();
    if (co_await reader.readexactly(static_cast<std::ptrdiff_t>(msg.size())) == msg) ++echoed;
  }
  writer.close();
  co_await writer.wait_closed();
  co_return echoed;
}

asyncio::Coroutine<> self_test(int port, asyncio::LoopGroup& group) {
  constexpr int kClients = 16, kMessages = 100;
  std::vector<asyncio::Task<int>> clients;
  for (int c = 0; c < kClients; ++c) clients.push_back(asyncio::create_task(client(port, c, kMessages)));
  int echoed = 0;
  for (auto& t : clients) echoed += co_await t;
  std::printf("%d clients, %d of %d messages echoed by %zu loops\n", kClients, echoed, kClients * kMessages,
              group.size());
  self_test_passed = echoed == kClients * kMessages;
  for (std::size_t i = 1; i < group.size(); ++i) co_await group.submit(i, stop_shard(static_cast<int>(i)));
  this_shard->stop.set();
}

asyncio::Coroutine<> shard_main(int index, asyncio::LoopGroup& group, int port, bool test) {
  this_shard = shards[static_cast<std::size_t>(index)].get();
  const bool announce = port == 0 && !test;
  if (port == 0 && index > 0)  // share the port shard 0 was given
    while ((port = bound_port.load()) == 0) co_await asyncio::sleep(0.001);
  asyncio::Server server = co_await asyncio::start_server(
      handle, "127.0.0.1", port, {.backlog = 1024, .reuse_port = true, .limit = 1024 * 1024});
  if (index == 0) bound_port = server.sockets().at(0).getsockname().port;
  const int n = static_cast<int>(group.size());
  if (listening.fetch_add(1) + 1 == n && announce) {
    std::printf("echo_server_sharded: listening on 127.0.0.1:%d (%d loops)\n", bound_port.load(), n);
    std::fflush(stdout);
  }
  if (test && index == 0) {
    while (listening.load() < n) co_await asyncio::sleep(0.001);
    co_await self_test(bound_port.load(), group);
  }
  co_await this_shard->stop.wait();
  server.close();
  co_await server.wait_closed();
}

int usage() {
  std::fprintf(stderr, "usage: echo_server_sharded [--loops N] PORT\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool test = args.empty();
  int loops = test ? 2 : 0, port = 0;
  std::size_t i = 0;
  if (i + 1 < args.size() && args[i] == "--loops") {
    loops = std::atoi(args[i + 1].c_str());
    if (loops < 1) return usage();
    i += 2;
  }
  if (!test) {
    if (i + 1 != args.size()) return usage();
    port = std::atoi(args[i].c_str());
  }
  const std::size_t n = loops > 0 ? static_cast<std::size_t>(loops) : std::max(1U, std::thread::hardware_concurrency());
  for (std::size_t s = 0; s < n; ++s) shards.push_back(std::make_unique<Shard>());
  int status = 0;
  try {
    asyncio::run_sharded(n, [port, test](int shard, asyncio::LoopGroup& group) {
      return shard_main(shard, group, port, test);
    });
  } catch (const asyncio::KeyboardInterrupt&) {
    // SIGINT or SIGTERM: a clean stop
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server_sharded: %s\n", e.what());
    status = 1;
  }
  if (test && !self_test_passed) status = 1;
  if (!test) {
    std::fprintf(stderr, "echo_server_sharded: connections per loop:");
    for (const auto& s : shards) std::fprintf(stderr, " %d", s->connections.load());
    std::fprintf(stderr, "\n");
  }
  return status;
}
