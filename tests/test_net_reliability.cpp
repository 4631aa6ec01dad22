// Reliability of the network layer (issue 5, item 4): a thousand concurrent
// connections to one server, peers that reset mid-write and mid-read, a
// client that never reads (drain() blocks, the buffer stays bounded), and
// no file descriptor leaked by any of it (run_net counts /proc/self/fd).
// Loopback only; no assertion on timings.
#include <asyncio/streams.hpp>

#include "net_test.hpp"

#include <string>
#include <system_error>
#include <vector>

using namespace asyncio;
using net_test::NetLoop;
using net_test::port_of;
using net_test::run_net;

namespace {

bool is_reset_or_pipe(const std::exception_ptr& e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const std::system_error& x) {
    return x.code() == std::errc::connection_reset || x.code() == std::errc::broken_pipe ||
           x.code() == std::errc::connection_aborted;
  } catch (...) {
  }
  return false;
}

Coroutine<> line_echo(StreamReader reader, StreamWriter writer) {
  for (;;) {
    std::string line = co_await reader.readline();
    if (line.empty()) break;
    writer.write(line);
    co_await writer.drain();
  }
  writer.close();
  co_await writer.wait_closed();
}

Coroutine<int> one_client(int port, int id) {
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  int ok = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string line = "client " + std::to_string(id) + " line " + std::to_string(i) + "\n";
    writer.write(line);
    if (co_await reader.readline() == line) ++ok;
  }
  writer.close();
  co_await writer.wait_closed();
  co_return ok;
}

}  // namespace

TEST(Reliability, ThousandConcurrentConnections) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(line_echo, "127.0.0.1", 0, {.backlog = 1024});
    std::vector<Coroutine<int>> clients;
    for (int i = 0; i < 1000; ++i) clients.push_back(one_client(port_of(server), i));
    std::vector<int> results = co_await gather(std::move(clients));
    int total = 0;
    for (int r : results) total += r;
    EXPECT_EQ(total, 3000);
    co_await net_test::close_server(server);
  });
}

TEST(Reliability, ThousandConnectionsHeldOpenThenServerClosesThem) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(line_echo, "127.0.0.1", 0, {.backlog = 1024});
    std::vector<StreamReader> readers;
    std::vector<StreamWriter> writers;
    for (int i = 0; i < 1000; ++i) {
      auto [r, w] = co_await open_connection("127.0.0.1", port_of(server));
      readers.push_back(r);
      writers.push_back(w);
    }
    writers[999].write("last\n");
    EXPECT_EQ(co_await readers[999].readline(), "last\n");
    Task<> closed = create_task(server.wait_closed());
    server.close();
    server.close_clients();  // every client then sees EOF
    for (auto& r : readers) EXPECT_EQ(co_await r.read(), "");
    co_await closed;
    for (auto& w : writers) w.close();
    for (auto& w : writers) co_await w.wait_closed();
  });
}

namespace {

// What the server side of the reset tests saw.
std::exception_ptr g_server_error;
bool g_server_done = false;

Coroutine<> write_forever(StreamReader, StreamWriter writer) {
  const std::string chunk(64 * 1024, 'w');
  try {
    for (int i = 0; i < 100000; ++i) {
      writer.write(chunk);
      co_await writer.drain();
    }
  } catch (const std::exception&) {
    g_server_error = std::current_exception();
  }
  g_server_done = true;
  writer.close();
}

Coroutine<> read_a_lot(StreamReader reader, StreamWriter writer) {
  try {
    co_await reader.readexactly(64 * 1024 * 1024);
  } catch (const std::exception&) {
    g_server_error = std::current_exception();
  }
  g_server_done = true;
  writer.close();
}

/// Waits (bounded) for the server's handler to end, which must have been
/// with a reset (or a broken pipe).
Coroutine<> expect_server_saw_reset() {
  for (int i = 0; i < 5000 && !g_server_done; ++i) co_await asyncio::sleep(0.001);
  EXPECT_TRUE(g_server_done);
  EXPECT_TRUE(is_reset_or_pipe(g_server_error)) << asyncio_test::what(g_server_error);
}

Coroutine<> reset(StreamWriter writer) {
  net_test::set_linger_zero(std::any_cast<TransportSocket>(writer.get_extra_info("socket")).fileno());
  writer.transport().abort();
  co_await asyncio::sleep(0);
}

}  // namespace

TEST(Reliability, PeerResetsMidWrite) {
  g_server_error = nullptr;
  g_server_done = false;
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(write_forever, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    std::string got = co_await reader.readexactly(200 * 1024);  // the server is writing
    EXPECT_EQ(got.size(), 200u * 1024);
    co_await reset(writer);
    co_await expect_server_saw_reset();
    co_await net_test::close_server(server);
  });
  g_server_error = nullptr;
}

TEST(Reliability, PeerResetsMidRead) {
  g_server_error = nullptr;
  g_server_done = false;
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(read_a_lot, "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    writer.write(std::string(1024 * 1024, 'r'));  // part of what the server waits for
    co_await writer.drain();
    co_await asyncio::sleep(0.01);
    co_await reset(writer);
    co_await expect_server_saw_reset();
    co_await net_test::close_server(server);
  });
  g_server_error = nullptr;
}

TEST(Reliability, ClientResetWhileItWrites) {
  // Our client writes while the server resets it: the client's drain()
  // raises instead of hanging.
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(
        [](StreamReader reader, StreamWriter writer) -> Coroutine<> {
          co_await reader.readexactly(100000);
          co_await reset(writer);
        },
        "127.0.0.1", 0);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
    std::exception_ptr error;
    const std::string chunk(32 * 1024, 'c');
    for (int i = 0; i < 100000 && !error; ++i) {
      try {
        writer.write(chunk);
        co_await writer.drain();
      } catch (...) {
        error = std::current_exception();
      }
    }
    EXPECT_TRUE(is_reset_or_pipe(error)) << asyncio_test::what(error);
    co_await net_test::close_server(server);
  });
}

namespace {

struct NeverReadState {
  std::size_t written = 0;
  bool draining = false;
  std::size_t max_buffer = 0;
  std::exception_ptr error;
  bool done = false;
};
NeverReadState g_never;

Coroutine<> write_to_a_client_that_never_reads(StreamReader, StreamWriter writer) {
  const std::string chunk(64 * 1024, 'n');
  try {
    for (int i = 0; i < 100000; ++i) {
      writer.write(chunk);
      g_never.written += chunk.size();
      g_never.max_buffer = std::max(g_never.max_buffer, writer.transport().get_write_buffer_size());
      g_never.draining = true;
      co_await writer.drain();
      g_never.draining = false;
    }
  } catch (const std::exception&) {
    g_never.error = std::current_exception();
  }
  g_never.done = true;
  writer.close();
}

}  // namespace

TEST(Reliability, ClientThatNeverReads) {
  g_never = {};
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(write_to_a_client_that_never_reads, "127.0.0.1", 0);
    // A plain socket that connects and never reads.
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_of(server)));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    // The kernel's buffers fill, then the transport's: drain() blocks.
    for (int i = 0; i < 20000 && !(g_never.draining && g_never.max_buffer > 64 * 1024); ++i)
      co_await asyncio::sleep(0.001);
    EXPECT_TRUE(g_never.draining);
    const std::size_t written = g_never.written;
    for (int i = 0; i < 20; ++i) co_await asyncio::sleep(0.001);
    // Still blocked, nothing more written, and the buffer bounded by the
    // high-water mark plus one write.
    EXPECT_TRUE(g_never.draining);
    EXPECT_EQ(g_never.written, written);
    EXPECT_LE(g_never.max_buffer, 64u * 1024 + 64 * 1024);
    EXPECT_FALSE(g_never.done);
    // The client goes away with unread data: a reset; drain() raises.
    close(fd);
    for (int i = 0; i < 5000 && !g_never.done; ++i) co_await asyncio::sleep(0.001);
    EXPECT_TRUE(g_never.done);
    EXPECT_TRUE(is_reset_or_pipe(g_never.error)) << asyncio_test::what(g_never.error);
    co_await net_test::close_server(server);
  });
  g_never = {};
}

TEST(Reliability, ConnectionChurn) {
  // Connections opened and closed or aborted in turn, at both ends.
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(line_echo, "127.0.0.1", 0);
    for (int i = 0; i < 300; ++i) {
      auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
      writer.write("x\n");
      if (i % 3 == 0) {
        writer.transport().abort();
      } else {
        if (i % 3 == 1) {
          EXPECT_EQ(co_await reader.readline(), "x\n");
        }
        writer.close();
      }
      co_await writer.wait_closed();
    }
    co_await net_test::close_server(server);
  });
}
