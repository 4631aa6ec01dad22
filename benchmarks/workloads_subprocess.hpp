// asyncio-cpp: SPDX-License-Identifier: MIT
// asyncio_workloads' subprocess workloads (workloads_subprocess.cpp, a unit
// of its own: see benchmarks/CMakeLists.txt).
#ifndef ASYNCIO_BENCHMARKS_WORKLOADS_SUBPROCESS_HPP
#define ASYNCIO_BENCHMARKS_WORKLOADS_SUBPROCESS_HPP

#include <asyncio/coroutine.hpp>

/// N MiB through `cat`, pipes of `pipesize` bytes (<= 0: the system's).
asyncio::Coroutine<long long> pipe_throughput(long mib, int pipesize = -1);

#endif  // ASYNCIO_BENCHMARKS_WORKLOADS_SUBPROCESS_HPP
