// asyncio-cpp: SPDX-License-Identifier: MIT
// sendfile benchmark, our side (benchmarks/peers/sendfile.sh runs it beside
// CPython and uvloop): sends FILE to 127.0.0.1:PORT over a TCP connection,
// with loop.sendfile() (sendfile(2), zero-copy) or with a read()/write()
// loop through the same StreamWriter (write + drain, 256 KiB blocks), and
// prints the throughput and the CPU time this process spent per GiB.
//
//   asyncio_sendfile_client sendfile|readwrite FILE PORT
#include <asyncio/asyncio.hpp>
#include <asyncio/selector_events.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

asyncio::Coroutine<std::uint64_t> send_readwrite(asyncio::StreamWriter& writer, int fd) {
  std::string buf(256 * 1024, '\0');
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    writer.write(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    co_await writer.drain();
    total += static_cast<std::uint64_t>(n);
  }
  co_return total;
}

asyncio::Coroutine<int> amain(std::string mode, std::string file, int port) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::perror(file.c_str());
    co_return 2;
  }
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  const double t0 = now(), c0 = cpu_seconds();
  std::uint64_t sent = 0;
  if (mode == "sendfile") {
    auto transport = writer.transport().shared_from_this();
    sent = co_await asyncio::sendfile(asyncio::get_running_loop(), transport, fd);
  } else {
    sent = co_await send_readwrite(writer, fd);
  }
  writer.close();
  co_await writer.wait_closed();
  const double seconds = now() - t0, cpu = cpu_seconds() - c0;
  const double gib = static_cast<double>(sent) / (1 << 30);
  std::printf("RESULT peer=asyncio_cpp_%s bytes=%llu seconds=%.3f gib_per_s=%.2f cpu_s_per_gib=%.3f\n", mode.c_str(),
              static_cast<unsigned long long>(sent), seconds, gib / seconds, cpu / gib);
  ::close(fd);
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s sendfile|readwrite FILE PORT\n", argv[0]);
    return 2;
  }
  return asyncio::run(amain(argv[1], argv[2], std::atoi(argv[3])));
}
