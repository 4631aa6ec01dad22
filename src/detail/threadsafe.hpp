// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: how other threads reach a loop (call_soon_threadsafe, executors,
// run_coroutine_threadsafe). DESIGN.md decision 2.
#ifndef ASYNCIO_SRC_DETAIL_THREADSAFE_HPP
#define ASYNCIO_SRC_DETAIL_THREADSAFE_HPP

#include <asyncio/events.hpp>

#include <functional>
#include <memory>

namespace asyncio::detail {

/// The loop's mailbox for other threads. Shared: a worker thread may hold
/// it after the loop is gone, and then post() refuses (it is closed before
/// the loop lets go of anything it points to).
class ThreadsafeQueue;

/// The mailbox of `loop`.
std::shared_ptr<ThreadsafeQueue> threadsafe_port(EventLoop& loop);

/// Posts `cb` to run on the loop's thread, in FIFO order with call_soon;
/// false (and `cb` dropped in this thread) once the loop is closed.
/// Callable from any thread.
bool post(ThreadsafeQueue& port, std::function<void()> cb);

class ExecutorCall;
/// Loop thread: `call` is out in an executor until untrack_call(). The
/// calls still out when the loop closes are abandoned there (their futures
/// released on the loop's thread: a worker must not touch them).
void track_call(ThreadsafeQueue& port, std::shared_ptr<ExecutorCall> call);
void untrack_call(ThreadsafeQueue& port, ExecutorCall* call) noexcept;

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_THREADSAFE_HPP
