// asyncio-cpp: SPDX-License-Identifier: MIT
#include "workloads_closure.hpp"

#include <asyncio/tasks.hpp>

asyncio::Coroutine<long long> spawn_await_closure(long n) {
  long long s = 0;
  for (long i = 0; i < n; ++i) {
    const int v = static_cast<int>(i);
    s += co_await asyncio::create_task([v]() -> asyncio::Coroutine<int> { co_return v; });
  }
  co_return s;
}
