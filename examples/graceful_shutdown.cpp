// graceful_shutdown: a line-based TCP server (each line is answered in
// upper case; a line starting with "slow" takes the server 200 ms) that
// stops cleanly on SIGINT or SIGTERM, showing loop.add_signal_handler(), an
// Event to wake the main task, and the shutdown order:
//
//   1. server.close()        no new connections; the open ones stay
//   2. finish_all()          a client waiting between requests is told
//                            "BYE" at once; a request in flight is answered
//                            first, then "BYE"; then the connection closes
//   3. wait for the handlers (5 s at most; then, or on a second signal, the
//                            connections are aborted)
//   4. server.wait_closed()
//
// The handler installed for SIGINT replaces the one asyncio::run() puts in
// place (which would cancel the main task and end the program with
// KeyboardInterrupt): the program exits 0 after a Ctrl-C.
//
// usage: graceful_shutdown        a self-test: serves on an ephemeral port,
//                                 connects two clients, sends ITSELF SIGINT
//                                 while one request is in flight, prints the
//                                 transcript and exits by itself
//        graceful_shutdown PORT   serves on 127.0.0.1:PORT until SIGINT or
//                                 SIGTERM (try `nc 127.0.0.1 PORT`)
#include <asyncio/asyncio.hpp>
#include <asyncio/locks.hpp>
#include <asyncio/streams.hpp>
#include <asyncio/timeouts.hpp>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

using namespace std::chrono_literals;

// The connections of the server, each served by its own handler task, kept
// so that the shutdown can reach them and wait for them.
class LineService {
 public:
  // The start_server callback. Not a coroutine: the connection is
  // registered the moment it is accepted, before its task first runs, so a
  // shutdown that comes right after still finds it.
  asyncio::Coroutine<> accept(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
    auto conn = std::make_shared<Connection>(++last_id_, std::move(writer));
    connections_.emplace(conn->id, conn);
    return serve(conn, std::move(reader));
  }

  // Asks every connection to finish: one waiting for its next request stops
  // waiting now; one in the middle of a request finishes it. Each then says
  // BYE and closes.
  void finish_all() {
    stopping_ = true;
    // Cancelling a read that is already done does nothing: a request that
    // was read is always answered. A cancelled read leaves what it had
    // received buffered, so no line is ever half consumed.
    // A connection whose handler has not run yet has no read: it will see
    // the flag first thing.
    for (auto& [id, conn] : connections_) {
      if (conn->read) conn->read.cancel();
    }
    if (connections_.empty()) finished_.set();
  }

  // The way out when clients do not finish: drops every connection at once.
  void abort_all() {
    aborting_ = true;
    for (auto& [id, conn] : connections_) conn->writer.transport().abort();
  }

  // Returns once every handler has returned (after finish_all()).
  asyncio::Coroutine<> wait_finished() {
    if (!connections_.empty()) co_await finished_.wait();
  }

  std::size_t connections() const { return connections_.size(); }
  std::size_t busy() const {
    std::size_t n = 0;
    for (const auto& [id, conn] : connections_) n += conn->busy;
    return n;
  }

  // Set when a slow request starts: the self-test's cue.
  asyncio::Event slow_request_started;

 private:
  struct Connection {
    Connection(int i, asyncio::StreamWriter w) : id(i), writer(std::move(w)) {}
    int id;
    asyncio::StreamWriter writer;
    asyncio::Task<std::string> read;  // the pending readline()
    bool busy = false;                // from a request until its reply is sent
  };

  asyncio::Coroutine<> serve(std::shared_ptr<Connection> conn, asyncio::StreamReader reader) {
    // Forgets the connection however the handler ends, cancelled included,
    // and tells wait_finished() when it was the last one.
    struct Unregister {
      LineService& service;
      int id;
      ~Unregister() {
        service.connections_.erase(id);
        if (service.stopping_ && service.connections_.empty()) service.finished_.set();
      }
    } unregister{*this, conn->id};
    asyncio::StreamWriter& writer = conn->writer;
    try {
      while (!stopping_) {
        // The read is a task of its own so that finish_all() can cancel the
        // wait for a request without cancelling this handler.
        conn->read = asyncio::create_task(reader.readline());
        std::string request;
        try {
          request = co_await conn->read;
        } catch (const asyncio::CancelledError&) {
          // finish_all() cancelled the read; if this handler itself is
          // being cancelled, that goes on.
          if (asyncio::current_task().cancelling() > 0) throw;
          break;
        }
        if (request.empty()) break;  // the client closed its side
        conn->busy = true;
        const std::string reply = co_await process(conn->id, request);
        writer.write(reply);
        co_await writer.drain();  // a client slow to read holds us here
        conn->busy = false;
      }
      if (stopping_ && !aborting_) {
        std::printf("server: [%d] BYE\n", conn->id);
        writer.write("BYE\n");
        co_await writer.drain();
      }
    } catch (const std::exception& e) {
      // A line over the reader's limit, the client gone, or abort_all().
      if (!aborting_) std::printf("server: [%d] %s\n", conn->id, e.what());
    }
    writer.close();
    try {
      co_await writer.wait_closed();
    } catch (const std::exception&) {
      // Lost with an error: closed all the same.
    }
  }

  // (`request` by reference: GCC 12 mishandles a std::string temporary made
  // inside a co_await expression, such as a by-value copy of the argument.)
  asyncio::Coroutine<std::string> process(int id, const std::string& line) {
    std::string request = line;
    if (request.starts_with("slow")) {
      const std::string text = request.substr(0, request.find_last_not_of("\r\n") + 1);
      std::printf("server: [%d] working on \"%s\" (200 ms)\n", id, text.c_str());
      slow_request_started.set();
      co_await asyncio::sleep(200ms);
      std::printf("server: [%d] done with \"%s\"\n", id, text.c_str());
    }
    for (char& c : request) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    co_return request;
  }

  std::map<int, std::shared_ptr<Connection>> connections_;
  asyncio::Event finished_;
  int last_id_ = 0;
  bool stopping_ = false;
  bool aborting_ = false;
};

// ------------------------------------------------------------- self-test

// One request and its reply, printed.
asyncio::Coroutine<> exchange(int client, asyncio::StreamReader& reader, asyncio::StreamWriter& writer,
                              const std::string& request) {
  std::printf("client %d> %s\n", client, request.c_str());
  const std::string line = request + "\n";
  writer.write(line);
  co_await writer.drain();
  const std::string reply = co_await reader.readline();
  std::printf("client %d< %s", client, reply.c_str());
}

// Prints whatever the server still sends, up to its EOF.
asyncio::Coroutine<> read_to_eof(int client, asyncio::StreamReader& reader, asyncio::StreamWriter& writer) {
  for (;;) {
    const std::string line = co_await reader.readline();
    if (line.empty()) break;
    std::printf("client %d< %s", client, line.c_str());
  }
  std::printf("client %d: EOF\n", client);
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coroutine<> self_test_clients(int port, LineService& service) {
  auto [reader1, writer1] = co_await asyncio::open_connection("127.0.0.1", port);
  auto [reader2, writer2] = co_await asyncio::open_connection("127.0.0.1", port);
  const std::string hello = "hello", anybody = "is anybody there?", how = "how are you?";
  co_await exchange(1, reader1, writer1, hello);
  co_await exchange(2, reader2, writer2, anybody);
  co_await exchange(1, reader1, writer1, how);

  // Client 1 sends a request that takes a while, and does not wait for the
  // reply; the moment the server is working on it, the program interrupts
  // itself as a Ctrl-C would.
  const std::string slow = "slow: take your time";
  std::printf("client 1> %s\n", slow.c_str());
  writer1.write(slow + "\n");
  co_await writer1.drain();
  co_await service.slow_request_started.wait();
  std::printf("self-test: a request is in flight: raising SIGINT\n");
  std::raise(SIGINT);

  // Client 2 was idle: it gets BYE at once. Client 1 gets its reply first.
  co_await read_to_eof(2, reader2, writer2);
  co_await read_to_eof(1, reader1, writer1);
}

// ------------------------------------------------------------------ server

asyncio::Coroutine<> serve(int port, bool self_test) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  LineService service;

  // The signal handlers first, before anything can block: from here on a
  // SIGINT is ours, not asyncio::run()'s. They run on the loop's thread
  // (not in the signal handler), so they may touch anything. The state they
  // touch is shared with them, so that it lives as long as they do.
  struct Signals {
    asyncio::Event stop;
    const char* received = nullptr;
    LineService* service = nullptr;  // null once serve() returns
    void on(const char* name) {
      if (!received) {
        received = name;
        stop.set();  // wakes the main task below
      } else if (service) {
        std::printf("server: %s again: aborting the connections\n", name);
        service->abort_all();
      }
    }
  };
  auto signals = std::make_shared<Signals>();
  signals->service = &service;
  loop.add_signal_handler(SIGINT, [signals] { signals->on("SIGINT"); });
  loop.add_signal_handler(SIGTERM, [signals] { signals->on("SIGTERM"); });
  struct RemoveHandlers {
    asyncio::EventLoop& loop;
    Signals& signals;
    ~RemoveHandlers() {
      signals.service = nullptr;
      // SIGINT then has its default disposition for what is left of run().
      loop.remove_signal_handler(SIGINT);
      loop.remove_signal_handler(SIGTERM);
    }
  } remove_handlers{loop, *signals};

  // Named before the co_await (GCC 12 and capturing lambdas, see streams.md).
  auto handler = [&service](asyncio::StreamReader r, asyncio::StreamWriter w) { return service.accept(r, w); };
  asyncio::Server server = co_await asyncio::start_server(handler, "127.0.0.1", port);
  std::optional<asyncio::Task<>> clients;
  if (self_test) {
    std::printf("server: listening on 127.0.0.1 (an ephemeral port)\n");
    clients = asyncio::create_task(self_test_clients(server.sockets().at(0).getsockname().port, service));
  } else {
    std::printf("server: listening on %s; Ctrl-C or SIGTERM to stop\n",
                server.sockets().at(0).getsockname().repr().c_str());
  }

  co_await signals->stop.wait();

  server.close();
  std::printf("server: %s: stopped listening; %zu client(s) connected, %zu busy: asking them to finish\n",
              signals->received, service.connections(), service.busy());
  service.finish_all();
  bool timed_out = false;
  try {
    co_await asyncio::timeout(5s, [&service] { return service.wait_finished(); });
  } catch (const asyncio::TimeoutError&) {
    timed_out = true;
  }
  if (timed_out) {
    std::printf("server: clients still there after 5 s: aborting them\n");
    service.abort_all();
    co_await service.wait_finished();
  }
  co_await server.wait_closed();  // the listening socket and every connection are gone
  if (clients) co_await *clients;  // the self-test's transcript is complete
  std::printf("server: closed after %s; every handler has returned\n", signals->received);
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // the log shows up as it happens
  // A SIGINT before serve() installed its handler ends as Python's
  // KeyboardInterrupt does (exit 130); an error, with its traceback line.
  return asyncio::run_main(serve(argc > 1 ? std::atoi(argv[1]) : 0, argc < 2));
}
