// asyncio-cpp: SPDX-License-Identifier: MIT
// The default executor and run_in_executor's plumbing.
// ≙ run_in_executor / shutdown_default_executor in Lib/asyncio/base_events.py
#include <asyncio/threads.hpp>

#include "detail/loop_impl.hpp"
#include "detail/threadsafe.hpp"

namespace asyncio::detail {

namespace {

// The posted half of an executor call: completes the future on the loop's
// thread. Also when the loop drops it unrun (closing): the future's
// reference is released there, on the loop's thread, not in a worker.
struct FinishOnLoop {
  std::shared_ptr<ExecutorCall> call;
  std::shared_ptr<ThreadsafeQueue> port;
  void operator()() { finish(); }
  ~FinishOnLoop() {
    if (call && call->on_loop_thread()) finish();
  }
  void finish() noexcept {
    untrack_call(*port, call.get());
    std::exchange(call, nullptr)->finish();
  }
};

}  // namespace

void submit_call(EventLoop& loop, ThreadPoolExecutor* executor, std::shared_ptr<ExecutorCall> call) {
  ThreadPoolExecutor& ex = executor ? *executor : loop.default_executor();
  std::shared_ptr<ThreadsafeQueue> port = threadsafe_port(loop);
  ex.submit([call, port]() mutable {
    if (call->start()) call->run();
    // Refused once the loop is closed: the loop's close() has then
    // abandoned the call (released its future on the loop's thread).
    post_finish(std::move(port), std::move(call));
  });
  track_call(*port, std::move(call));
}

bool post_finish(std::shared_ptr<ThreadsafeQueue> port, std::shared_ptr<ExecutorCall> call) {
  ThreadsafeQueue& q = *port;
  return post(q, FinishOnLoop{std::move(call), std::move(port)});
}

std::shared_ptr<ThreadsafeQueue> expect_reply(EventLoop& loop, std::shared_ptr<ExecutorCall> call) {
  std::shared_ptr<ThreadsafeQueue> port = threadsafe_port(loop);
  track_call(*port, std::move(call));
  return port;
}

bool post_to_port(ThreadsafeQueue& port, std::function<void()> cb) { return post(port, std::move(cb)); }

bool post_to_loop(EventLoop& loop, std::function<void()> cb) { return post(*threadsafe_port(loop), std::move(cb)); }

}  // namespace asyncio::detail

namespace asyncio {

ThreadPoolExecutor& EventLoop::default_executor() {
  check_closed();
  if (!impl_->executor) impl_->executor = std::make_unique<ThreadPoolExecutor>();
  return *impl_->executor;
}

void EventLoop::set_default_executor(std::unique_ptr<ThreadPoolExecutor> executor) {
  std::swap(impl_->executor, executor);
  if (executor) executor->shutdown(true);
}

void EventLoop::shutdown_default_executor() {
  if (auto executor = std::move(impl_->executor)) executor->shutdown(true);
}

}  // namespace asyncio
