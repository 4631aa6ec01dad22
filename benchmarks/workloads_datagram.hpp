// asyncio-cpp: SPDX-License-Identifier: MIT
// asyncio_workloads' datagram workloads (workloads_datagram.cpp, a unit of
// its own: see benchmarks/CMakeLists.txt).
#ifndef ASYNCIO_BENCHMARKS_WORKLOADS_DATAGRAM_HPP
#define ASYNCIO_BENCHMARKS_WORKLOADS_DATAGRAM_HPP

#include <asyncio/coroutine.hpp>

/// N round trips of a 100-byte datagram between two DatagramStreams on
/// 127.0.0.1, one in flight. check = N(N-1)/2.
asyncio::Coroutine<long long> udp_pingpong(long n);

#endif  // ASYNCIO_BENCHMARKS_WORKLOADS_DATAGRAM_HPP
