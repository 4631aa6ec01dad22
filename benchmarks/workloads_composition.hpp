// asyncio-cpp: SPDX-License-Identifier: MIT
// The composition workloads of the bench program (issue 3): the await_chain
// workload with every await under a timeout that never fires, and N
// children in one TaskGroup. Included by workloads.cpp, which defines leaf().
#ifndef ASYNCIO_BENCHMARKS_WORKLOADS_COMPOSITION_HPP
#define ASYNCIO_BENCHMARKS_WORKLOADS_COMPOSITION_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/taskgroups.hpp>
#include <asyncio/tasks.hpp>
#include <asyncio/timeouts.hpp>

#include <vector>

// The trivial coroutine every workload awaits or spawns (workloads.cpp).
asyncio::Coroutine<int> leaf(int i);

// timeout_overhead: await_chain, each await wrapped in `timeout(60)`
// (≙ `async with asyncio.timeout(60): s += await leaf(i)`). The body is a
// plain callable returning leaf's coroutine: no coroutine frame of its own.
// The cost over await_chain is what a timeout that never fires costs.
inline asyncio::Coroutine<long long> timeout_overhead(long n) {
  long long s = 0;
  for (long i = 0; i < n; ++i) s += co_await asyncio::timeout(60, [i] { return leaf(static_cast<int>(i)); });
  co_return s;
}

// taskgroup_spawn: N children returning their index, in one TaskGroup; the
// check is their sum (≙ gather_many with `async with TaskGroup() as tg:
// tasks = [tg.create_task(leaf(i)) for i in range(n)]`).
inline asyncio::Coroutine<long long> taskgroup_spawn(long n) {
  std::vector<asyncio::Task<int>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coroutine<> {
    for (long i = 0; i < n; ++i) tasks.push_back(tg.create_task(leaf(static_cast<int>(i))));
    co_return;
  });
  long long s = 0;
  for (auto& t : tasks) s += t.result();
  co_return s;
}

#endif  // ASYNCIO_BENCHMARKS_WORKLOADS_COMPOSITION_HPP
