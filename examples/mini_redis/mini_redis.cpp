// mini-redis: a RESP2 server written the way an asyncio user would write
// it (streams, a task per connection, readuntil("\r\n")), on one loop or
// on N loops sharing the port (SO_REUSEPORT). Keys are partitioned by
// shard; a command on another shard's key runs there through
// LoopGroup::submit(). Python twin: benchmarks/peers/python/mini_redis.py.
//
//   mini_redis [--shards N] PORT     (PORT 0: any free port, printed)
//
// Runs until SIGINT or SIGTERM, then exits 0.
#include "resp.hpp"
#include "store.hpp"

#include <asyncio/asyncio.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace asyncio;
using namespace mini_redis;

namespace {

struct Message {
  std::string channel, payload;
};

/// A connection in subscribed mode: the messages for it, and its channels.
struct Subscriber {
  Queue<Message> inbox;
  std::set<std::string> channels;
};

/// One shard: its keys and its subscribers, touched by its loop only.
struct Shard {
  int index = 0;
  Store store;
  std::unordered_map<std::string, std::set<Subscriber*>> channels;

  int publish(const Message& m) {
    auto it = channels.find(m.channel);
    if (it == channels.end()) return 0;
    for (Subscriber* s : it->second) s->inbox.put_nowait(m);
    return static_cast<int>(it->second.size());
  }
};

struct App {
  std::string host = "127.0.0.1";
  int port = 0;
  int nshards = 1;
  LoopGroup* group = nullptr;
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<int> bound_port{0};
  std::atomic<int> listening{0};

  int owner(const std::string& key) const {
    return nshards == 1 ? 0 : static_cast<int>(std::hash<std::string>{}(key) % static_cast<std::size_t>(nshards));
  }
};

App server;
thread_local Shard* this_shard = nullptr;

// Runs on shard `i`'s loop (through submit()).
Coroutine<std::string> run_on(int i, Command args) {
  std::string out;
  server.shards[static_cast<std::size_t>(i)]->store.execute(args, out);
  co_return out;
}

Coroutine<int> publish_on(int i, Message m) { co_return server.shards[static_cast<std::size_t>(i)]->publish(m); }

/// A one-key command, on the shard that owns the key.
Coroutine<> on_key(Command args, std::string& out) {
  const int owner = server.owner(args[1]);
  if (owner == this_shard->index) {
    this_shard->store.execute(args, out);
    co_return;
  }
  out += co_await server.group->submit(static_cast<std::size_t>(owner), run_on(owner, std::move(args)));
}

/// The integer of a one-key reply (":3\r\n").
std::int64_t integer_of(const std::string& reply) { return std::stoll(reply.substr(1)); }

void wrong_args(std::string& out, const std::string& name) {
  error(out, "ERR wrong number of arguments for '" + name + "' command");
}

void unknown(std::string& out, const Command& args) {
  std::string m = "ERR unknown command '" + args[0] + "', with args beginning with: ";
  for (std::size_t i = 1; i < args.size(); ++i) m += "'" + args[i] + "' ";
  error(out, m);
}

struct Connection {
  Connection(StreamReader r, StreamWriter w) : reader(std::move(r)), writer(std::move(w)) {}
  StreamReader reader;
  StreamWriter writer;
  Subscriber sub;
  Task<> forwarder;
  bool quit = false;

  // Writes each message published to a channel of this connection.
  static Coroutine<> forward(Subscriber* sub, StreamWriter writer) {
    for (;;) {
      Message m = co_await sub->inbox.get();
      std::string out;
      array(out, 3);
      bulk(out, "message");
      bulk(out, m.channel);
      bulk(out, m.payload);
      writer.write(out);
    }
  }

  void subscribe(const Command& args, std::string& out) {
    if (!forwarder) forwarder = create_task(forward(&sub, writer));
    for (std::size_t i = 1; i < args.size(); ++i) {
      sub.channels.insert(args[i]);
      this_shard->channels[args[i]].insert(&sub);
      array(out, 3);
      bulk(out, "subscribe");
      bulk(out, args[i]);
      integer(out, static_cast<std::int64_t>(sub.channels.size()));
    }
  }
  void unsubscribe(const Command& args, std::string& out) {
    std::vector<std::string> which(args.begin() + 1, args.end());
    if (which.empty()) which.assign(sub.channels.begin(), sub.channels.end());
    for (const std::string& ch : which) {
      leave(ch);
      array(out, 3);
      bulk(out, "unsubscribe");
      bulk(out, ch);
      integer(out, static_cast<std::int64_t>(sub.channels.size()));
    }
  }
  void leave(const std::string& ch) {
    sub.channels.erase(ch);
    auto it = this_shard->channels.find(ch);
    if (it == this_shard->channels.end()) return;
    it->second.erase(&sub);
    if (it->second.empty()) this_shard->channels.erase(it);
  }
  void leave_all() {
    for (const std::string& ch : std::vector<std::string>(sub.channels.begin(), sub.channels.end())) leave(ch);
  }

  Coroutine<> dispatch(Command& args, std::string& out) {
    const std::string name = lower(args[0]);
    const std::size_t n = args.size();
    if (name == "ping") {
      if (n > 2) {
        wrong_args(out, name);
        co_return;
      }
      if (n == 1)
        simple(out, "PONG");
      else
        bulk(out, args[1]);
    } else if (name == "echo") {
      if (n != 2) wrong_args(out, name); else bulk(out, args[1]);
    } else if (name == "get" || name == "incr" || name == "decr" || name == "ttl") {
      if (n != 2) wrong_args(out, name); else co_await on_key(std::move(args), out);
    } else if (name == "expire") {
      if (n != 3) wrong_args(out, name); else co_await on_key(std::move(args), out);
    } else if (name == "set") {
      if (n < 3) wrong_args(out, name); else co_await on_key(std::move(args), out);
    } else if (name == "del" || name == "exists") {
      if (n < 2) {
        wrong_args(out, name);
        co_return;
      }
      std::int64_t total = 0;
      for (std::size_t i = 1; i < n; ++i) {
        // HACK(gcc-12): no braced list inside a co_await expression.
        Command one{name, args[i]};
        std::string r;
        co_await on_key(std::move(one), r);
        total += integer_of(r);
      }
      integer(out, total);
    } else if (name == "mget") {
      if (n < 2) {
        wrong_args(out, name);
        co_return;
      }
      array(out, n - 1);
      for (std::size_t i = 1; i < n; ++i) {
        Command one{"get", args[i]};
        co_await on_key(std::move(one), out);
      }
    } else if (name == "mset") {
      if (n < 3 || n % 2 == 0) {
        wrong_args(out, name);
        co_return;
      }
      for (std::size_t i = 1; i < n; i += 2) {
        Command one{"set", args[i], args[i + 1]};
        std::string r;
        co_await on_key(std::move(one), r);
      }
      simple(out, "OK");
    } else if (name == "publish") {
      if (n != 3) {
        wrong_args(out, name);
        co_return;
      }
      std::int64_t receivers = 0;
      for (int i = 0; i < server.nshards; ++i) {
        Message m{args[1], args[2]};
        if (i == this_shard->index)
          receivers += this_shard->publish(m);
        else
          receivers += co_await server.group->submit(static_cast<std::size_t>(i), publish_on(i, std::move(m)));
      }
      integer(out, receivers);
    } else if (name == "subscribe") {
      if (n < 2) wrong_args(out, name); else subscribe(args, out);
    } else if (name == "unsubscribe") {
      unsubscribe(args, out);
    } else if (name == "config" && n == 3 && lower(args[1]) == "get") {
      array(out, 2);  // redis-benchmark asks for "save" and "appendonly": none
      bulk(out, args[2]);
      bulk(out, "");
    } else if (name == "command") {
      array(out, 0);  // redis-cli asks for the command docs: none
    } else if (name == "quit") {
      simple(out, "OK");
      quit = true;
    } else {
      unknown(out, args);
    }
  }

  Coroutine<> serve() {
    std::string out;
    std::string failure;
    try {
      while (!quit) {
        std::optional<Command> cmd = co_await read_command(reader);
        if (!cmd) break;
        co_await dispatch(*cmd, out);
        // Pipelining: while more of the client's commands are already
        // buffered, the replies wait and go out in one write.
        if (reader.buffer().empty() || out.size() > 65536) {
          writer.write(out);
          out.clear();
          co_await writer.drain();
        }
      }
    } catch (const ProtocolError& e) {
      failure = std::string("ERR Protocol error: ") + e.what();
    } catch (const LimitOverrunError&) {
      failure = "ERR Protocol error: too big inline request";
    } catch (const IncompleteReadError&) {
      // EOF inside a command: the client went away
    } catch (const std::system_error&) {
      // reset by the peer
    }
    if (!out.empty() && !writer.is_closing()) writer.write(out);
    leave_all();
    if (forwarder) {
      forwarder.cancel();
      try {
        co_await forwarder;
      } catch (const CancelledError&) {
      }
    }
    if (!failure.empty()) {
      std::string o;
      error(o, failure);
      writer.write(o);
    }
    writer.close();
    try {
      co_await writer.wait_closed();
    } catch (const std::system_error&) {
    }
  }
};

Coroutine<> serve_client(StreamReader reader, StreamWriter writer) {
  Connection c(std::move(reader), std::move(writer));
  co_await c.serve();
}

Coroutine<> shard_main(int index) {
  this_shard = server.shards[static_cast<std::size_t>(index)].get();
  int port = server.port;
  if (port == 0 && index > 0)  // the port shard 0 was given
    while ((port = server.bound_port.load()) == 0) co_await asyncio::sleep(0.001);
  asyncio::Server listener =
      co_await start_server(serve_client, server.host, port, ServerOptions{.reuse_port = server.nshards > 1});
  if (index == 0) server.bound_port = listener.sockets().at(0).getsockname().port;
  if (server.listening.fetch_add(1) + 1 == server.nshards) {
    std::printf("mini_redis: listening on %s:%d (%d shard%s)\n", server.host.c_str(), server.bound_port.load(),
                server.nshards, server.nshards == 1 ? "" : "s");
    std::fflush(stdout);
  }
  co_await listener.serve_forever();
}

int usage() {
  std::fprintf(stderr, "usage: mini_redis [--shards N] PORT\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::size_t i = 0;
  if (i + 1 < args.size() && args[i] == "--shards") {
    server.nshards = std::atoi(args[i + 1].c_str());
    i += 2;
  }
  if (i + 1 != args.size() || server.nshards < 1) return usage();
  server.port = std::atoi(args[i].c_str());
  for (int s = 0; s < server.nshards; ++s) {
    server.shards.push_back(std::make_unique<Shard>());
    server.shards.back()->index = s;
  }
  try {
    run_sharded(static_cast<std::size_t>(server.nshards), [](int shard, LoopGroup& group) -> Coroutine<> {
      server.group = &group;
      return shard_main(shard);
    });
  } catch (const KeyboardInterrupt&) {
    return 0;  // SIGINT or SIGTERM: a clean stop
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mini_redis: %s\n", e.what());
    return 1;
  }
  return 0;
}
