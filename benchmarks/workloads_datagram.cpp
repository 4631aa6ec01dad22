// asyncio-cpp: SPDX-License-Identifier: MIT
// asyncio_workloads: the datagram workloads.
#include "workloads_datagram.hpp"

#include <asyncio/datagrams.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/tasks.hpp>

#include <any>
#include <string>

namespace {

int port_of(const asyncio::DatagramStream& s) {
  return std::any_cast<asyncio::SocketAddress>(s.get_extra_info("sockname")).port;
}

/// Echoes every datagram to its sender.
asyncio::Coroutine<> echo(asyncio::DatagramStream server) {
  for (;;) {
    asyncio::Datagram d = co_await server.recvfrom();
    co_await server.sendto(d.first, d.second);
  }
}

}  // namespace

// udp_pingpong: the client sends datagram i (its number, padded to 100
// bytes) and awaits the echo, N times: each round trip is two sendto(2),
// two wake-ups of the loop and two recvfrom() that wait. The echo's number
// is summed: check = N(N-1)/2.
asyncio::Coroutine<long long> udp_pingpong(long n) {
  asyncio::DatagramStream server = co_await asyncio::open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
  asyncio::DatagramStream client =
      co_await asyncio::open_datagram_endpoint({.remote_addr = {"127.0.0.1", port_of(server)}});
  asyncio::Task<> echoing = asyncio::create_task(echo(server));
  long long s = 0;
  std::string message;
  for (long i = 0; i < n; ++i) {
    message = std::to_string(i);
    message.resize(100, ' ');
    co_await client.sendto(message);
    asyncio::Datagram d = co_await client.recvfrom();
    s += std::stol(d.first);
  }
  echoing.cancel();
  try {
    co_await echoing;
  } catch (const asyncio::CancelledError&) {
  }
  client.close();
  server.close();
  co_return s;
}
