// asyncio-cpp: SPDX-License-Identifier: MIT
// A server that logs a request id per connection through a ContextVar,
// without passing it around: the helpers, a later step of the task and a
// worker thread (to_thread) all see the id of the connection they work
// for, because each connection's task runs in a context of its own
// (docs/contextvars.md). It starts itself on 127.0.0.1, port 0, and talks
// to it with two clients. The test example.request_ids compares its output
// with request_ids.py's.
#include <asyncio/asyncio.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace {

asyncio::ContextVar<std::string> request_id("request_id", "-");
int connections = 0;

void log(const std::string& message) { std::printf("[%s] %s\n", request_id.get().c_str(), message.c_str()); }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string strip(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

int checksum(const std::string& text) {
  // Runs in a worker thread, in a copy of the caller's context.
  log("checksum of " + quoted(text) + " in a thread");
  int sum = 0;
  for (unsigned char c : text) sum += c;
  return sum % 256;
}

asyncio::Coroutine<std::string> reply_to(std::string line) {
  co_await asyncio::sleep(0);  // a later step of the task: the id is still there
  const int total = co_await asyncio::to_thread(checksum, line);
  log("replying to " + quoted(line));
  std::string upper = line;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  co_return upper + " " + std::to_string(total) + "\n";
}

asyncio::Coroutine<> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  request_id.set("conn-" + std::to_string(++connections));  // this connection's task only
  log("connected");
  for (;;) {
    const std::string line = strip(co_await reader.readline());
    log("received " + quoted(line));
    const std::string answer = co_await reply_to(line);
    writer.write(answer);
    co_await writer.drain();
    if (line == "bye") break;
  }
  log("closing");
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coroutine<> client(int port, std::string name, std::vector<std::string> lines) {
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  for (const std::string& line : lines) {
    writer.write(line + "\n");
    const std::string answer = strip(co_await reader.readline());
    std::printf("%s got %s\n", name.c_str(), quoted(answer).c_str());
  }
  co_await reader.read();  // until the server has closed
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coroutine<> main_task() {
  asyncio::Server server = co_await asyncio::start_server(handle, "127.0.0.1", 0);
  const int port = server.sockets().at(0).getsockname().port;
  // Named first: GCC 12 cannot have temporaries with destructors inside a
  // co_await expression (docs/design-notes.md, "Compilers").
  asyncio::Coroutine<> alice = client(port, "alice", {"hello", "bye"});
  co_await std::move(alice);
  asyncio::Coroutine<> bob = client(port, "bob", {"ping", "bye"});
  co_await std::move(bob);
  server.close();  // ≙ the end of `async with server:`
  co_await server.wait_closed();
  log("main is done");
}

}  // namespace

int main() { return asyncio::run_main(main_task()); }
