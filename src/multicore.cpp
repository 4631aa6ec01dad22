// asyncio-cpp: SPDX-License-Identifier: MIT
// LoopGroup and run_sharded(): N loops in N threads (docs/multicore.md).
#include <asyncio/multicore.hpp>

#include <asyncio/runners.hpp>
#include <asyncio/taskgroups.hpp>

#include "detail/threadsafe.hpp"

#include <csignal>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

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

Coroutine<> run_shards(LoopGroup& group, const std::function<Coroutine<>(int)>& make_main) {
  co_await task_group([&](TaskGroup& tg) {
    for (std::size_t i = 0; i < group.size(); ++i)
      tg.create_task(await_future(group.submit(i, make_main(static_cast<int>(i)))));
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

Coroutine<> coordinate(LoopGroup& group, const std::function<Coroutine<>(int)>& make_main) {
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

void detail::run_sharded(std::size_t n, const std::function<Coroutine<>(int)>& make_main) {
  if (loop_running_in_this_thread())
    throw RuntimeError("run_sharded() cannot be called from a running event loop");
  LoopGroup group(n);
  group.start();
  asyncio::run(coordinate(group, make_main));
}

}  // namespace asyncio
