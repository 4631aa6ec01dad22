// asyncio-cpp: SPDX-License-Identifier: MIT
// Streaming lines with asynchronous generators: a server started on
// 127.0.0.1 port 0 sends a few lines; the client reads them through an
// AsyncGenerator that numbers them, with the `async for` spelling on both
// levels (aiter(reader) is `async for line in reader`). The test
// example.line_stream compares its output with line_stream.py's.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <string>

namespace {

const char* const lines_to_send[] = {"the quick brown fox", "jumps over", "the lazy dog"};

asyncio::Coroutine<> handle(asyncio::StreamReader, asyncio::StreamWriter writer) {
  for (const char* line : lines_to_send) {
    writer.write(std::string(line) + "\n");
    co_await writer.drain();
    co_await asyncio::sleep(0.01);
  }
  writer.close();
  co_await writer.wait_closed();
}

// An async generator: the server's lines, numbered.
asyncio::AsyncGenerator<std::string> numbered(asyncio::StreamReader reader) {
  int n = 0;
  auto lines = asyncio::aiter(reader);
  for (auto it = co_await lines.begin(); it != lines.end(); co_await ++it) {
    std::string line = *it;
    if (!line.empty() && line.back() == '\n') line.pop_back();
    co_yield std::to_string(++n) + ": " + line;
  }
}

asyncio::Coroutine<> amain() {
  asyncio::Server server = co_await asyncio::start_server(handle, "127.0.0.1", 0);
  const int port = server.sockets()[0].getsockname().port;
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  auto numbered_lines = numbered(reader);
  for (auto it = co_await numbered_lines.begin(); it != numbered_lines.end(); co_await ++it)
    std::printf("%s\n", it->c_str());
  writer.close();
  co_await writer.wait_closed();
  server.close();
  co_await server.wait_closed();
  std::printf("the server closed the stream\n");
}

}  // namespace

int main() { return asyncio::run_main(amain()); }
