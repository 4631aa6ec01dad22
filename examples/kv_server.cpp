// kv_server: a line-based key-value server showing readline(), drain() and
// a graceful Server shutdown.
//
//   SET <key> <value>   -> OK
//   GET <key>           -> VALUE <value> | NOT_FOUND
//   DEL <key>           -> DELETED | NOT_FOUND
//   KEYS                -> KEYS <key> <key> ...
//   QUIT                -> BYE, and the server closes the connection
//
// usage: kv_server           a self-test: serves on an ephemeral port, runs a
//                            client session against itself, prints it, and
//                            shuts the server down (exits by itself)
//        kv_server PORT      serves on 127.0.0.1:PORT until SIGINT/SIGTERM,
//                            then stops listening, closes the clients and
//                            waits for them (try it with echo_client or nc)
#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

class KeyValueServer {
 public:
  /// ≙ `async def handle(reader, writer)`: one client, one line at a time.
  asyncio::Coroutine<> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
    for (;;) {
      std::string line;
      bool too_long = false, rest_to_come = false;
      try {
        line = co_await reader.readline();
      } catch (const std::invalid_argument& e) {
        // Longer than the reader's limit: readline() dropped what it had
        // (as CPython's does). If the newline has not come yet, the rest of
        // the line is still on its way: it is dropped too, so that one
        // over-long line gets one reply.
        too_long = true;
        rest_to_come = std::string_view(e.what()).find("not found") != std::string_view::npos;
      } catch (const std::system_error&) {
        break;  // the client went away
      }
      if (too_long) {
        bool line_ended = true;
        if (rest_to_come) line_ended = co_await skip_rest_of_line(reader);
        if (!line_ended) break;
        writer.write("ERROR line too long\n");
        co_await writer.drain();
        continue;
      }
      if (line.empty()) break;  // EOF
      const std::string reply = execute(line);
      writer.write(reply);
      // Wait while the client is slow to read what it is sent.
      co_await writer.drain();
      if (reply == "BYE\n") break;
    }
    writer.close();
    co_await writer.wait_closed();
  }

  /// Reads up to and including the next newline without keeping it; false
  /// at EOF or when the connection is lost first.
  static asyncio::Coroutine<bool> skip_rest_of_line(asyncio::StreamReader reader) {
    for (;;) {
      std::size_t drop = 0;
      try {
        co_await reader.readuntil("\n");
        co_return true;
      } catch (const asyncio::LimitOverrunError& e) {
        drop = e.consumed;  // what readuntil() looked at and left buffered
      } catch (const asyncio::IncompleteReadError&) {
        co_return false;
      } catch (const std::system_error&) {
        co_return false;
      }
      co_await reader.readexactly(static_cast<std::ptrdiff_t>(drop));
    }
  }

  std::string execute(const std::string& line) {
    std::istringstream in(line);
    std::string command, key;
    in >> command >> key;
    if (command == "SET" && !key.empty()) {
      std::string value;
      std::getline(in >> std::ws, value);
      store_[key] = value;
      return "OK\n";
    }
    if (command == "GET" && !key.empty()) {
      auto it = store_.find(key);
      return it == store_.end() ? "NOT_FOUND\n" : "VALUE " + it->second + "\n";
    }
    if (command == "DEL" && !key.empty()) return store_.erase(key) ? "DELETED\n" : "NOT_FOUND\n";
    if (command == "KEYS") {
      std::string reply = "KEYS";
      for (const auto& [k, v] : store_) reply += " " + k;
      return reply + "\n";
    }
    if (command == "QUIT") return "BYE\n";
    return "ERROR unknown command\n";
  }

 private:
  std::map<std::string, std::string> store_;
};

/// Closes the server, the connections it accepted, and waits for them.
asyncio::Coroutine<> shutdown(asyncio::Server server) {
  server.close();          // stop listening
  server.close_clients();  // the open connections get EOF
  co_await server.wait_closed();
}

asyncio::Coroutine<> self_test() {
  KeyValueServer kv;
  auto handler = [&kv](asyncio::StreamReader r, asyncio::StreamWriter w) { return kv.handle(r, w); };
  asyncio::Server server = co_await asyncio::start_server(handler, "127.0.0.1", 0, {.limit = 1024});
  const int port = server.sockets().at(0).getsockname().port;

  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  const std::vector<std::string> session = {
      "SET language C++20", "SET loop libuv", "GET language", "GET python", "KEYS",
      "DEL loop",           "KEYS",           "FLY away",     std::string(2000, 'x'), "QUIT"};
  for (const std::string& request : session) {
    writer.write(request + "\n");
    co_await writer.drain();
    std::string reply = co_await reader.readline();
    std::printf("> %s\n< %s", request.size() > 40 ? "(a 2000-byte line)" : request.c_str(), reply.c_str());
  }
  std::printf("server closed the connection: %s\n", (co_await reader.read()).empty() ? "yes" : "no");
  writer.close();
  co_await writer.wait_closed();

  // A second client still connected when the server shuts down.
  auto [reader2, writer2] = co_await asyncio::open_connection("127.0.0.1", port);
  writer2.write("SET last word\n");
  std::printf("second client: %s", (co_await reader2.readline()).c_str());
  co_await shutdown(server);
  std::printf("server shut down; second client sees EOF: %s\n", (co_await reader2.read()).empty() ? "yes" : "no");
  writer2.close();
  co_await writer2.wait_closed();
}

asyncio::Coroutine<> serve(int port) {
  // SIGINT/SIGTERM are taken by a thread (blocked here, in main, before any
  // other thread exists) that hands them to the loop, the one thread-safe
  // entry point of the loop.
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  KeyValueServer kv;
  auto handler = [&kv](asyncio::StreamReader r, asyncio::StreamWriter w) { return kv.handle(r, w); };
  asyncio::Server server = co_await asyncio::start_server(handler, "127.0.0.1", port);
  std::printf("serving on %s\n", server.sockets().at(0).getsockname().repr().c_str());
  std::fflush(stdout);
  std::thread signals([&loop, &server] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    // On the loop's thread: stop listening and close the connections;
    // serve_forever() then ends once they are gone.
    loop.call_soon_threadsafe([&server] {
      server.close();
      server.close_clients();
    });
  });
  try {
    co_await server.serve_forever();  // until close() cancels it
  } catch (const asyncio::CancelledError&) {
  }
  signals.join();
  co_await shutdown(server);  // already done: returns at once
  std::printf("shut down\n");
}

int main(int argc, char** argv) {
  if (argc < 2) return asyncio::run_main(self_test());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return asyncio::run_main(serve(std::atoi(argv[1])));
}
