// asyncio-cpp: SPDX-License-Identifier: MIT
// asyncio_workloads: the subprocess workloads.
#include "workloads_subprocess.hpp"

#include <asyncio/gather.hpp>
#include <asyncio/subprocess.hpp>

#include <string>

// pipe_throughput: N MiB through `cat` (stdin and stdout pipes), written
// in 64 KiB chunks with drain() while a task reads to EOF. ops = MiB, so
// ops_per_s is MiB/s. check = bytes read back.
static asyncio::Coroutine<long long> pump_in(asyncio::StreamWriter in, long mib) {
  const std::string chunk(64 * 1024, 'x');
  for (long i = 0; i < mib * 16; ++i) {
    in.write(chunk);
    co_await in.drain();
  }
  in.close();
  co_return 0;
}

static asyncio::Coroutine<long long> pump_out(asyncio::StreamReader out) {
  long long total = 0;
  for (;;) {
    std::string data = co_await out.read(64 * 1024);
    if (data.empty()) co_return total;
    total += static_cast<long long>(data.size());
  }
}

// pipe_throughput_256k: the same with pipes of 256 KiB (`pipesize`).
asyncio::Coroutine<long long> pipe_throughput(long mib, int pipesize) {
  asyncio::Process cat = co_await asyncio::create_subprocess_exec(
      "cat", {}, {.stdin_ = asyncio::PIPE, .stdout_ = asyncio::PIPE, .pipesize = pipesize});
  auto [sent, received] = co_await asyncio::gather(pump_in(*cat.stdin_, mib), pump_out(*cat.stdout_));
  const int rc = co_await cat.wait();
  co_return rc == 0 ? sent + received : -1;
}

