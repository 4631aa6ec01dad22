// asyncio-cpp: SPDX-License-Identifier: MIT
// LoopGroup and run_sharded(): N loops in N threads (docs/multicore.md).
#include <asyncio/multicore.hpp>

#include <asyncio/runners.hpp>
#include <asyncio/taskgroups.hpp>

#include "detail/stream_transport.hpp"
#include "detail/threadsafe.hpp"

#include <csignal>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include <unistd.h>

namespace asyncio {


/// One loop and its thread. `loop` is set while the loop exists: the
/// thread owns it through a Runner, so that leftovers are cancelled and
/// awaited at stop() exactly as asyncio.run() does at exit.
struct LoopGroup::Shard {
  std::thread thread;
  std::thread::id id;
  std::atomic<EventLoop*> loop{nullptr};
  // The loop's mailbox: posting to it stays safe once the loop is gone.
  std::shared_ptr<detail::ThreadsafeQueue> port;
  std::promise<void> ready;

  void run() {
    Runner runner;
    EventLoop& l = runner.get_loop();
    port = detail::threadsafe_port(l);
    loop.store(&l);
    ready.set_value();
    l.run_forever();
    loop.store(nullptr);
    runner.close();
  }
};

LoopGroup::LoopGroup(std::size_t n) : n_(n ? n : std::max(1u, std::thread::hardware_concurrency())) {}

LoopGroup::~LoopGroup() {
  try {
    stop();
  } catch (...) {
    // Called from one of its own loops: nothing a destructor can do.
  }
}

void LoopGroup::start() {
  if (started_) throw RuntimeError("LoopGroup is already started");
  started_ = true;
  for (std::size_t i = 0; i < n_; ++i) {
    auto shard = std::make_unique<Shard>();
    std::future<void> up = shard->ready.get_future();
    Shard* s = shard.get();
    shard->thread = std::thread([s] { s->run(); });
    shard->id = shard->thread.get_id();
    up.wait();
    shards_.push_back(std::move(shard));
  }
}

void LoopGroup::stop() {
  for (auto& s : shards_)
    if (s->id == std::this_thread::get_id())
      throw RuntimeError("LoopGroup.stop() cannot be called from one of its loops");
  // Refused once a loop is closed; its thread then ends by itself.
  for (auto& s : shards_) detail::post_to_port(*s->port, [] { get_running_loop().stop(); });
  for (auto& s : shards_)
    if (s->thread.joinable()) s->thread.join();
  shards_.clear();
}

EventLoop& LoopGroup::loop(std::size_t i) const {
  if (i >= n_) throw std::out_of_range("LoopGroup index out of range");
  EventLoop* l = i < shards_.size() ? shards_[i]->loop.load() : nullptr;
  if (!l) throw RuntimeError("LoopGroup is not running");
  return *l;
}

namespace {

Coroutine<> await_future(Future<> f) { co_await f; }

Coroutine<> run_shards(LoopGroup& group, const std::function<Coroutine<>(int, LoopGroup&)>& make_main) {
  co_await task_group([&](TaskGroup& tg) {
    for (std::size_t i = 0; i < group.size(); ++i)
      tg.create_task(await_future(group.submit(i, make_main(static_cast<int>(i), group))));
  });
}

// SIGINT and SIGTERM cancel the group's task once, for the length of one
// run_sharded() (the handlers are removed whatever happens).
class ShardSignals {
 public:
  ShardSignals(EventLoop& loop, TaskRef task) : loop_(loop), task_(std::move(task)) {
    for (int sig : {SIGINT, SIGTERM}) loop_.add_signal_handler(sig, [this] { on_signal(); });
  }
  ShardSignals(const ShardSignals&) = delete;
  ShardSignals& operator=(const ShardSignals&) = delete;
  ~ShardSignals() {
    for (int sig : {SIGINT, SIGTERM}) loop_.remove_signal_handler(sig);
  }
  bool interrupted() const noexcept { return signals_ > 0; }

 private:
  void on_signal() {
    if (++signals_ == 1) task_.cancel();
  }
  EventLoop& loop_;
  TaskRef task_;
  int signals_ = 0;
};

Coroutine<> coordinate(LoopGroup& group, const std::function<Coroutine<>(int, LoopGroup&)>& make_main) {
  Task<> shards = create_task(run_shards(group, make_main));
  ShardSignals signals(get_running_loop(), shards);
  try {
    co_await shards;
  } catch (const CancelledError&) {
    if (signals.interrupted()) throw KeyboardInterrupt();
    throw;
  }
}

}  // namespace

namespace {

// Acceptor mode: what the listening loop and the shards share.
struct Acceptor {
  Acceptor(LoopGroup& group, ClientConnectedCallback callback, std::ptrdiff_t limit, Dispatch how)
      : cb(std::make_shared<const ClientConnectedCallback>(std::move(callback))), limit(limit), dispatch(how),
        load(group.size()) {
    for (std::size_t i = 0; i < group.size(); ++i) ports.push_back(detail::threadsafe_port(group.loop(i)));
  }
  std::shared_ptr<const ClientConnectedCallback> cb;
  std::ptrdiff_t limit;
  Dispatch dispatch;
  std::vector<std::shared_ptr<detail::ThreadsafeQueue>> ports;
  std::vector<std::atomic<int>> load;  // open connections per shard
  std::size_t next = 0;                // the listening loop's only

  std::size_t pick() noexcept {
    if (dispatch == Dispatch::round_robin) return next++ % ports.size();
    std::size_t best = 0;
    for (std::size_t i = 1; i < load.size(); ++i)
      if (load[i].load(std::memory_order_relaxed) < load[best].load(std::memory_order_relaxed)) best = i;
    return best;
  }
};

// An accepted socket on its way to a shard: closed (and the shard's load
// given back) if it never gets there.
struct HandedSocket {
  std::shared_ptr<Acceptor> acceptor;
  std::size_t shard;
  int fd;
  HandedSocket(std::shared_ptr<Acceptor> a, std::size_t i, int s) noexcept : acceptor(std::move(a)), shard(i), fd(s) {}
  HandedSocket(const HandedSocket&) = delete;
  HandedSocket& operator=(const HandedSocket&) = delete;
  ~HandedSocket() {
    if (fd >= 0) {
      ::close(fd);
      acceptor->load[shard].fetch_sub(1);
    }
  }
};

// start_server()'s protocol, giving its shard's load back at the end.
class CountedStreamProtocol final : public StreamReaderProtocol {
 public:
  CountedStreamProtocol(StreamReader reader, std::shared_ptr<const ClientConnectedCallback> cb,
                        std::shared_ptr<Acceptor> acceptor, std::size_t shard)
      : StreamReaderProtocol(std::move(reader), std::move(cb)), acceptor_(std::move(acceptor)), shard_(shard) {}
  void connection_lost(std::exception_ptr exc) override {
    acceptor_->load[shard_].fetch_sub(1);
    StreamReaderProtocol::connection_lost(std::move(exc));
  }

 private:
  std::shared_ptr<Acceptor> acceptor_;
  std::size_t shard_;
};

// On the shard: the socket becomes a transport of this loop.
Coroutine<> serve_accepted(std::shared_ptr<HandedSocket> handed) {
  std::shared_ptr<Acceptor> a = handed->acceptor;
  const std::size_t shard = handed->shard;
  ProtocolFactory factory = [a, shard]() -> std::shared_ptr<Protocol> {
    return std::make_shared<CountedStreamProtocol>(StreamReader(a->limit), a->cb, a, shard);
  };
  Coroutine<detail::ConnectionResult> adopt = detail::adopt_connection(
      get_running_loop(), std::move(factory), std::exchange(handed->fd, -1), detail::Adopt::accepted);
  try {
    co_await adopt;
  } catch (...) {
    a->load[shard].fetch_sub(1);
    throw;
  }
}

// The listener's hand-off (in its poll callback: must not throw).
void hand_off(const std::shared_ptr<Acceptor>& a, int fd) noexcept {
  const std::size_t shard = a->pick();
  a->load[shard].fetch_add(1);
  try {
    auto handed = std::make_shared<HandedSocket>(a, shard, fd);
    fd = -1;
    detail::post_to_port(*a->ports[shard], [handed] { create_task(serve_accepted(handed)); });
  } catch (...) {
    if (fd >= 0) {
      ::close(fd);
      a->load[shard].fetch_sub(1);
    }
  }
}

}  // namespace

void detail::set_hand_off(const Server& server, std::function<void(int fd)> fn) {
  server.state()->hand_off = std::move(fn);
}

Coroutine<Server> detail::start_acceptor_server(LoopGroup& group, ClientConnectedCallback cb, std::string host,
                                                int port, ServerOptions options, Dispatch dispatch) {
  auto acceptor = std::make_shared<Acceptor>(group, std::move(cb), options.limit, dispatch);
  const bool serve = options.start_serving;
  options.start_serving = false;
  ProtocolFactory unused = []() -> std::shared_ptr<Protocol> { return nullptr; };
  Coroutine<Server> create = create_server(get_running_loop(), std::move(unused), std::move(host), port, options);
  Server server = co_await create;
  detail::set_hand_off(server, [acceptor](int fd) { hand_off(acceptor, fd); });
  if (serve) co_await server.start_serving();
  co_return server;
}

void detail::run_sharded(std::size_t n, const std::function<Coroutine<>(int, LoopGroup&)>& make_main) {
  if (loop_running_in_this_thread())
    throw RuntimeError("run_sharded() cannot be called from a running event loop");
  LoopGroup group(n);
  group.start();
  asyncio::run(coordinate(group, make_main));
}

}  // namespace asyncio
