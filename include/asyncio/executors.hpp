// asyncio-cpp: SPDX-License-Identifier: MIT
// ThreadPoolExecutor: worker threads for blocking calls.
// ≙ Lib/concurrent/futures/thread.py, as asyncio's default executor
#ifndef ASYNCIO_EXECUTORS_HPP
#define ASYNCIO_EXECUTORS_HPP

#include <cstddef>
#include <functional>
#include <memory>

namespace asyncio {

/// A pool of worker threads (≙ concurrent.futures.ThreadPoolExecutor).
/// Workers start on demand, up to max_workers. Thread-safe.
class ThreadPoolExecutor {
 public:
  /// `max_workers` 0 means CPython's default: min(32, cores + 4).
  explicit ThreadPoolExecutor(std::size_t max_workers = 0);
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  /// shutdown(true).
  ~ThreadPoolExecutor();

  /// Queues `job` to run on a worker. RuntimeError("cannot schedule new
  /// futures after shutdown") once shut down. A job must not throw (what
  /// it throws is dropped).
  void submit(std::function<void()> job);
  /// Refuses new jobs; with `wait`, runs what is queued and joins the
  /// workers (blocks). Idempotent.
  void shutdown(bool wait = true);
  std::size_t max_workers() const noexcept;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

}  // namespace asyncio

#endif  // ASYNCIO_EXECUTORS_HPP
