// asyncio-cpp: SPDX-License-Identifier: MIT
// ≙ Lib/concurrent/futures/thread.py
#include <asyncio/executors.hpp>

#include <asyncio/exceptions.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace asyncio {

struct ThreadPoolExecutor::State {
  std::mutex mutex;  // guards everything below
  std::condition_variable work;
  std::deque<std::function<void()>> queue;
  std::vector<std::thread> workers;
  std::size_t idle = 0;
  std::size_t max_workers;
  bool shutdown = false;

  void worker() {
    std::unique_lock lock(mutex);
    for (;;) {
      ++idle;
      work.wait(lock, [this] { return shutdown || !queue.empty(); });
      --idle;
      if (queue.empty()) return;  // shut down and drained
      std::function<void()> job = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      try {
        job();
      } catch (...) {
        // Jobs report their own outcome (run_in_executor posts it to the
        // loop); an exception here has nowhere to go.
      }
      job = nullptr;  // destroyed outside the lock
      lock.lock();
    }
  }
};

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t max_workers) : s_(std::make_shared<State>()) {
  if (max_workers == 0) max_workers = std::min<std::size_t>(32, std::thread::hardware_concurrency() + 4);
  s_->max_workers = max_workers;
}

ThreadPoolExecutor::~ThreadPoolExecutor() { shutdown(true); }

void ThreadPoolExecutor::submit(std::function<void()> job) {
  std::lock_guard lock(s_->mutex);
  if (s_->shutdown) throw RuntimeError("cannot schedule new futures after shutdown");
  s_->queue.push_back(std::move(job));
  // Start a worker when none is idle (CPython's _adjust_thread_count).
  if (s_->idle < s_->queue.size() && s_->workers.size() < s_->max_workers)
    s_->workers.emplace_back([s = s_] { s->worker(); });
  s_->work.notify_one();
}

void ThreadPoolExecutor::shutdown(bool wait) {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(s_->mutex);
    s_->shutdown = true;
    if (wait) workers.swap(s_->workers);
  }
  s_->work.notify_all();
  for (auto& t : workers) t.join();
  if (!wait) {
    // Workers drain the queue and end on their own; nobody joins them.
    std::lock_guard lock(s_->mutex);
    for (auto& t : s_->workers) t.detach();
    s_->workers.clear();
  }
}

std::size_t ThreadPoolExecutor::max_workers() const noexcept { return s_->max_workers; }

}  // namespace asyncio
