// asyncio-cpp: SPDX-License-Identifier: MIT
// Several loops, one per core, sharing nothing: LoopGroup, run_sharded(),
// and awaiting a task of another loop (submit_to) on the caller's own loop.
// No CPython module: where a Python program would use processes
// (docs/multicore.md). Built on run_coroutine_threadsafe's rules (threads.py).
#ifndef ASYNCIO_MULTICORE_HPP
#define ASYNCIO_MULTICORE_HPP

#include <asyncio/base_events.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/streams.hpp>
#include <asyncio/tasks.hpp>
#include <asyncio/threads.hpp>

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

namespace detail {

/// The remote half: lives on the target loop's thread (its task, the
/// coroutine until the task is made). When the last callable holding it
/// goes without having settled (the target closed first), the caller's
/// future fails with RuntimeError("Event loop is closed"), as
/// run_coroutine_threadsafe's does.
template <class T>
class RemoteRun {
 public:
  RemoteRun(Coroutine<T> coro, std::shared_ptr<RemoteResult<T>> result, std::shared_ptr<ThreadsafeQueue> reply)
      : coro_(std::move(coro)), result_(std::move(result)), reply_(std::move(reply)) {}
  RemoteRun(const RemoteRun&) = delete;
  RemoteRun& operator=(const RemoteRun&) = delete;
  ~RemoteRun() {
    if (!settled_) deliver(std::make_exception_ptr(RuntimeError("Event loop is closed")));
  }

  /// Target loop: makes the task; its done-callback holds `self`.
  static void start(const std::shared_ptr<RemoteRun>& self) {
    RemoteRun& r = *self;
    try {
      Task<T> t = get_running_loop().create_task(std::move(r.coro_));
      r.task_ = t;
      if (r.result_->cancel_requested.load()) t.cancel();
      t.add_done_callback([self](Task<T> done) { self->settle(done); });
    } catch (...) {
      r.deliver(std::current_exception());
      throw;  // reported by the target loop, as run_coroutine_threadsafe's
    }
  }
  /// Target loop: cancels the task if it is still there.
  void cancel() {
    if (task_) task_.cancel();
  }

 private:
  void settle(Task<T>& t) noexcept {
    settled_ = true;
    result_->store(t);
    task_ = TaskRef();
    post_finish(reply_, result_);
  }
  void deliver(std::exception_ptr e) noexcept {
    settled_ = true;
    result_->store_error(std::move(e));
    post_finish(reply_, result_);
  }

  Coroutine<T> coro_;
  TaskRef task_;
  bool settled_ = false;
  std::shared_ptr<RemoteResult<T>> result_;
  std::shared_ptr<ThreadsafeQueue> reply_;
};

}  // namespace detail

/// Runs `coro` as a task of `target` (another loop, in another thread) and
/// gives a Future of the running loop that gets its result, its exception,
/// or is cancelled if the task is. No thread waits: the outcome comes back
/// through this loop's thread-safe queue. Cancelling the Future (or the
/// task awaiting it) cancels the remote task, as asyncio.wrap_future of
/// run_coroutine_threadsafe() does; the Future is cancelled at once and a
/// result the remote task still produces is dropped. If `target` is or
/// gets closed before the task finishes, the Future fails with
/// RuntimeError("Event loop is closed"). `target` may be the running loop.
/// RuntimeError("no running event loop") outside a loop.
template <class T>
Future<T> submit_to(EventLoop& target, Coroutine<T> coro) {
  EventLoop& here = get_running_loop();
  Future<T> fut = here.create_future<T>();
  auto result = std::make_shared<detail::RemoteResult<T>>(fut.state());
  std::shared_ptr<detail::ThreadsafeQueue> reply = detail::expect_reply(here, result);
  std::shared_ptr<detail::ThreadsafeQueue> there = detail::threadsafe_port(target);
  auto run = std::make_shared<detail::RemoteRun<T>>(std::move(coro), result, std::move(reply));
  std::weak_ptr<detail::RemoteRun<T>> weak = run;
  fut.add_done_callback([result, weak, there](Future<T> f) {
    if (!f.cancelled()) return;
    result->cancel_requested.store(true);
    // The closure holds the run weakly: dropped here (target closed), it
    // must not free the remote task on this thread.
    detail::post_to_port(*there, [weak] {
      if (auto r = weak.lock()) r->cancel();
    });
  });
  detail::post_to_port(*there, [run = std::move(run)] { detail::RemoteRun<T>::start(run); });
  return fut;
}

/// submit_to(target, f, args...): `f(args...)` on `target`, with `f` and
/// the arguments moved (or copied) into the remote coroutine's frame, so a
/// capturing lambda coroutine stays alive for as long as it runs there
/// (as create_task(f, args...) does). What they hold is used on the
/// target's thread.
template <class F, class... A>
  requires detail::CoroutineFunction<F, A...>
auto submit_to(EventLoop& target, F&& f, A&&... args) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return submit_to(target, detail::owned_call(std::forward<F>(f), std::forward<A>(args)...));
}

/// N event loops, each in a thread of its own (≙ N processes each running
/// asyncio.run()). start() makes them; stop() (also the destructor) stops
/// each loop, cancels and awaits what is left on it (as asyncio.run() does
/// at exit), closes it and joins its thread. Thread-safe: loop(i) may be
/// used from any thread between start() and stop(), but only for what a
/// loop allows from other threads (call_soon_threadsafe,
/// run_coroutine_threadsafe, submit_to).
class LoopGroup {
 public:
  /// `n` loops; 0 means one per core (std::thread::hardware_concurrency()).
  explicit LoopGroup(std::size_t n = 0);
  LoopGroup(const LoopGroup&) = delete;
  LoopGroup& operator=(const LoopGroup&) = delete;
  ~LoopGroup();

  /// Starts the threads and returns once every loop runs.
  /// RuntimeError("LoopGroup is already started") the second time.
  void start();
  /// Stops and closes every loop and joins the threads. Idempotent.
  /// RuntimeError("LoopGroup.stop() cannot be called from one of its
  /// loops") from inside one (it would wait for itself).
  void stop();
  std::size_t size() const noexcept { return n_; }
  /// Loop `i`. std::out_of_range past size(); RuntimeError("LoopGroup is
  /// not running") before start() or after stop().
  EventLoop& loop(std::size_t i) const;
  /// submit_to(loop(shard), coro): `co_await group.submit(1, work())`.
  template <class T>
  Future<T> submit(std::size_t shard, Coroutine<T> coro) {
    return submit_to(loop(shard), std::move(coro));
  }
  /// submit_to(loop(shard), f, args...): the callable and the arguments
  /// are owned by the remote coroutine.
  template <class F, class... A>
    requires detail::CoroutineFunction<F, A...>
  auto submit(std::size_t shard, F&& f, A&&... args) {
    ASYNCIO_GCC12_CALLABLE_CHECK(F);
    return submit_to(loop(shard), detail::owned_call(std::forward<F>(f), std::forward<A>(args)...));
  }

 private:
  struct Shard;
  std::size_t n_;
  std::vector<std::unique_ptr<Shard>> shards_;
  bool started_ = false;
};

/// How start_acceptor_server() picks the shard of a new connection.
enum class Dispatch {
  round_robin,   ///< the next shard, in turn
  least_loaded,  ///< the shard with the fewest open connections it was given
};

namespace detail {
Coroutine<Server> start_acceptor_server(LoopGroup& group, ClientConnectedCallback cb, std::string host, int port,
                                        ServerOptions options, Dispatch dispatch);
}  // namespace detail

/// Acceptor mode, for few long-lived clients where SO_REUSEPORT's hashing
/// would leave shards idle: the running loop listens on host:port (options
/// as start_server()) and hands each accepted socket to a shard of `group`
/// (≙ loop.connect_accepted_socket there), where
/// `client_connected_cb(reader, writer)` runs as start_server() would run
/// it. The callback is shared by every shard's thread: it must be safe to
/// call from several threads at once (a lambda whose captures it does not
/// mutate is). The group must outlive the server; a connection handed to a
/// shard that is stopped is closed. Close the server as any other.
template <class F>
Coroutine<Server> start_acceptor_server(LoopGroup& group, F&& client_connected_cb, std::string_view host, int port,
                                        ServerOptions options = {}, Dispatch dispatch = Dispatch::round_robin) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::start_acceptor_server(group, detail::client_connected(std::forward<F>(client_connected_cb)),
                                       std::string(host), port, options, dispatch);
}

namespace detail {
void run_sharded(std::size_t n, const std::function<Coroutine<>(int, LoopGroup&)>& make_main);
}  // namespace detail

/// Runs `main(shard)` (or `main(shard, group)`, to reach the other shards
/// with group.submit()) on each of `n` loops (0: one per core), each in
/// its own thread, and returns when every one has returned. As a TaskGroup
/// of the N mains: the first failure cancels the others, and run_sharded()
/// raises an ExceptionGroup of the failures. SIGINT and SIGTERM (the first
/// one; later ones are ignored) cancel the group once: every shard's main
/// sees CancelledError, and run_sharded() then throws KeyboardInterrupt.
/// Leftover tasks of each loop are cancelled and awaited before it closes.
/// `main` is called on the calling thread (the coroutine it makes runs on
/// the shard's) and is kept until run_sharded() returns. RuntimeError
/// inside a running loop.
template <class F>
  requires std::is_invocable_r_v<Coroutine<>, F&, int, LoopGroup&>
void run_sharded(std::size_t n, F&& main) {
  detail::run_sharded(n, std::function<Coroutine<>(int, LoopGroup&)>(std::ref(main)));
}
template <class F>
  requires std::is_invocable_r_v<Coroutine<>, F&, int>
void run_sharded(std::size_t n, F&& main) {
  detail::run_sharded(n, [&main](int shard, LoopGroup&) -> Coroutine<> { return main(shard); });
}
template <class F>
  requires std::is_invocable_r_v<Coroutine<>, F&, int> || std::is_invocable_r_v<Coroutine<>, F&, int, LoopGroup&>
void run_sharded(F&& main) {
  run_sharded(0, std::forward<F>(main));
}

}  // namespace asyncio

#endif  // ASYNCIO_MULTICORE_HPP
