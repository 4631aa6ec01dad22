// asyncio-cpp: SPDX-License-Identifier: MIT
// asyncio_workloads' closure-owning workload (workloads_closure.cpp, a unit
// of its own: see benchmarks/CMakeLists.txt).
#ifndef ASYNCIO_BENCHMARKS_WORKLOADS_CLOSURE_HPP
#define ASYNCIO_BENCHMARKS_WORKLOADS_CLOSURE_HPP

#include <asyncio/coroutine.hpp>

/// spawn_await with each task owning a lambda coroutine
/// (create_task(callable)): what the task's extra frame, holding the
/// closure, costs against spawn_await.
asyncio::Coroutine<long long> spawn_await_closure(long n);

#endif  // ASYNCIO_BENCHMARKS_WORKLOADS_CLOSURE_HPP
