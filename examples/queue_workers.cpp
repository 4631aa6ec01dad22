// A pool of worker tasks fed by a Queue, joined with task_done()/join(): the
// example of CPython's queue documentation (Doc/library/asyncio-queue.rst),
// with fixed work items instead of random ones so that the output is stable.
#include <asyncio/asyncio.hpp>
#include <asyncio/queues.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

asyncio::Coroutine<> worker(std::string name, asyncio::Queue<int>& queue) {
  for (;;) {
    // Get a "work item" out of the queue: how long to sleep, in ms.
    const int sleep_for = co_await queue.get();
    co_await asyncio::sleep(std::chrono::milliseconds(sleep_for));
    // Notify the queue that the "work item" has been processed.
    queue.task_done();
    std::printf("%s has slept for %.3f seconds\n", name.c_str(), sleep_for / 1000.0);
  }
}

asyncio::Coroutine<> main_coroutine() {
  // Create a queue that we will use to store our "workload".
  asyncio::Queue<int> queue;

  // Put the work items into the queue (CPython draws them at random).
  int total_sleep_time = 0;
  for (int sleep_for : {24, 13, 56, 31, 41, 35, 55, 37, 14, 29}) {
    total_sleep_time += sleep_for;
    queue.put_nowait(sleep_for);
  }

  // Create three worker tasks to process the queue concurrently.
  std::vector<asyncio::Task<>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(asyncio::create_task(worker("worker-" + std::to_string(i), queue)));

  // Wait until the queue is fully processed.
  const double started_at = asyncio::get_running_loop().time();
  co_await queue.join();
  const double total_slept_for = asyncio::get_running_loop().time() - started_at;

  // Cancel our worker tasks, and wait until they are cancelled.
  for (auto& task : tasks) task.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, std::move(tasks));

  std::printf("====\n");
  std::printf("3 workers slept in parallel for %.1f seconds\n", total_slept_for);
  std::printf("total expected sleep time: %.3f seconds\n", total_sleep_time / 1000.0);
}

int main() { return asyncio::run_main(main_coroutine()); }
