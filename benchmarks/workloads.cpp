// asyncio-cpp: SPDX-License-Identifier: MIT
// The bench kit's CPU workloads (../shared/bench/README.md), doing exactly
// the work of the peers in ../shared/bench/peers/.
//
// usage: asyncio_workloads WORKLOAD N
// Prints the kit's RESULT line, then an ALLOCS line: heap allocations
// (global operator new calls) per operation during the timed part.
#include <asyncio/asyncio.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "result.hpp"

namespace {
std::atomic<long> allocations{0};
}

// Out of line: inlined, GCC 12 pairs the malloc/free inside with the
// new/delete expressions around them and warns (-Wmismatched-new-delete).
__attribute__((noinline)) void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }

// The trivial coroutine every workload awaits or spawns; out of line, as in
// the other C++ peers.
__attribute__((noinline)) asyncio::Coroutine<int> leaf(int i) { co_return i; }

#include "workloads_composition.hpp"
#include "workloads_closure.hpp"
#include "workloads_datagram.hpp"
#include "workloads_subprocess.hpp"
#include "workloads_sync.hpp"

// 1. await_chain: await a coroutine that returns at once
asyncio::Coroutine<long long> await_chain(long n) {
  long long s = 0;
  for (long i = 0; i < n; ++i) s += co_await leaf(static_cast<int>(i));
  co_return s;
}

// 2. spawn_await: create_task, then await the task
asyncio::Coroutine<long long> spawn_await(long n) {
  long long s = 0;
  for (long i = 0; i < n; ++i) s += co_await asyncio::create_task(leaf(static_cast<int>(i)));
  co_return s;
}

// 3. gather_many: N coroutines at once (gather makes each a task)
asyncio::Coroutine<long long> gather_many(long n) {
  std::vector<asyncio::Coroutine<int>> coros;
  coros.reserve(n);
  for (long i = 0; i < n; ++i) coros.push_back(leaf(static_cast<int>(i)));
  std::vector<int> results = co_await asyncio::gather(std::move(coros));
  long long s = 0;
  for (int r : results) s += r;
  co_return s;
}

// 4. sleep0_pingpong: two tasks, each yields N times with sleep(0)
asyncio::Coroutine<long long> yielder(long n) {
  for (long i = 0; i < n; ++i) co_await asyncio::sleep(0);
  co_return n;
}
asyncio::Coroutine<long long> sleep0_pingpong(long n) {
  auto [a, b] = co_await asyncio::gather(yielder(n), yielder(n));
  co_return a + b;  // check = 2N
}

// asyncgen_next: one AsyncGenerator yields N ints, consumed by the
// range-style `async for` (one step per value: resume, co_yield, back).
asyncio::AsyncGenerator<int> counter(long n) {
  for (long i = 0; i < n; ++i) co_yield static_cast<int>(i & 1);
}
asyncio::Coroutine<long long> asyncgen_next(long n) {
  long long s = 0;
  auto g = counter(n);
  for (auto it = co_await g.begin(); it != g.end(); co_await ++it) s += 1 + *it;
  co_return s - n / 2;  // check = N
}

// to_thread: await a no-op in the default executor, N times (one round
// trip to a worker thread and back). check = N.
asyncio::Coroutine<long long> to_thread_roundtrip(long n) {
  long long s = 0;
  for (long i = 0; i < n; ++i) s += co_await asyncio::to_thread([] { return 1; });
  co_return s;
}

asyncio::Coroutine<long long> run_workload(const std::string& w, long n, double& secs, long& allocs) {
  long long check = 0;
  // Timed inside the loop, as the Python peer does: loop creation is not
  // counted, everything the workload does is.
  const long a0 = allocations.load();
  const double t0 = bench::now_s();
  if (w == "await_chain")
    check = co_await await_chain(n);
  else if (w == "spawn_await")
    check = co_await spawn_await(n);
  else if (w == "spawn_await_closure")
    check = co_await spawn_await_closure(n);
  else if (w == "gather_many")
    check = co_await gather_many(n);
  else if (w == "sleep0_pingpong")
    check = co_await sleep0_pingpong(n);
  else if (w == "timeout_overhead")
    check = co_await timeout_overhead(n);
  else if (w == "taskgroup_spawn")
    check = co_await taskgroup_spawn(n);
  else if (w == "queue_pingpong")
    check = co_await queue_pingpong(n);
  else if (w == "lock_handoff")
    check = co_await lock_handoff(n);
  else if (w == "asyncgen_next")
    check = co_await asyncgen_next(n);
  else if (w == "to_thread")
    check = co_await to_thread_roundtrip(n);
  else if (w == "pipe_throughput")
    check = co_await pipe_throughput(n);
  else if (w == "pipe_throughput_256k")
    check = co_await pipe_throughput(n, 256 * 1024);
  else if (w == "udp_pingpong")
    check = co_await udp_pingpong(n);
  else {
    std::fprintf(stderr, "unknown workload %s\n", w.c_str());
    std::exit(2);
  }
  secs = bench::now_s() - t0;
  allocs = allocations.load() - a0;
  co_return check;
}

int main(int argc, char** argv) {
  const auto args = bench::parse_args(argc, argv);
  const std::string w = args.workload;
  double secs = 0;
  long allocs = 0;
  const long long check = asyncio::run(run_workload(w, args.n, secs, allocs));
  bench::print_result("asyncio_cpp", w.c_str(), args.n, secs, check);
  std::printf("ALLOCS workload=%s n=%ld allocs=%ld per_op=%.3f\n", w.c_str(), args.n, allocs,
              static_cast<double>(allocs) / static_cast<double>(args.n));
}
