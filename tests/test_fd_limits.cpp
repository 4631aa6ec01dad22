// Faults at the descriptor limit (issue 10): accept() out of descriptors
// used to freeze the loop (libuv retried accept() at once for ever when its
// spare-descriptor trick failed) or drop connections unreported; a loop
// built at the limit was left half made. These tests exhaust the process's
// descriptors on purpose, which UBSan's dynamic type check cannot survive
// (it probes memory through a pipe): under -fsanitize=undefined this file
// and a copy of the library are built with -fno-sanitize=vptr
// (tests/CMakeLists.txt). Loopback only; every wait bounded.
#include <asyncio/streams.hpp>

#include "net_test.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace asyncio;
using net_test::NetLoop;
using net_test::port_of;
using net_test::raw_connect;
using net_test::until;

namespace {

/// Lowers RLIMIT_NOFILE to what is open plus `headroom`, then fills the
/// table with descriptors (dup of stdin) until the kernel refuses:
/// accept() gets EMFILE. release() gives them back and restores the limit.
class DescriptorExhaustion {
 public:
  explicit DescriptorExhaustion(int headroom) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(net_test::count_fds() + headroom);
    setrlimit(RLIMIT_NOFILE, &low);
  }
  void exhaust() {
    for (;;) {
      int fd = dup(0);
      if (fd < 0) break;
      held_.push_back(fd);
    }
  }
  /// Frees `n` descriptors (the limit stays).
  void release_some(int n) {
    for (; n > 0 && !held_.empty(); --n) {
      close(held_.back());
      held_.pop_back();
    }
  }
  void release() {
    for (int fd : held_) close(fd);
    held_.clear();
    setrlimit(RLIMIT_NOFILE, &saved_);
  }
  ~DescriptorExhaustion() { release(); }

 private:
  rlimit saved_{};
  std::vector<int> held_;
};

/// Started before the descriptors run out (a thread's start meets new
/// types, see above), it steals from arm() on.
class SlotThief {
 public:
  SlotThief() : thread_([this] {
          started_ = true;
          while (!armed_.load() && !stop_.load()) std::this_thread::yield();
          while (!stop_.load()) {
            int fd = dup(0);
            if (fd >= 0) taken_.push_back(fd);
            else std::this_thread::yield();
          }
        }) {
    while (!started_.load()) std::this_thread::yield();
  }
  ~SlotThief() { stop(); }
  void arm() { armed_ = true; }
  void stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
    }
    for (int fd : taken_) close(fd);
    taken_.clear();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> armed_{false};
  std::atomic<bool> started_{false};
  std::vector<int> taken_;  // the thread's own until joined
  std::thread thread_;
};

/// A blocking line round trip on a raw socket, bounded by a receive timeout.
std::string raw_echo(int fd, const std::string& line) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) return "send failed";
  std::string got;
  char c;
  while (got.size() < line.size() && ::recv(fd, &c, 1, 0) == 1) got += c;
  return got;
}

}  // namespace

TEST(AcceptOutOfDescriptors, BacksOffReportsOnceKeepsServingAndLosesNoConnection) {
  // CPython's _accept_connection: on EMFILE the listener stops accepting
  // for ACCEPT_RETRY_DELAY and reports once through the exception handler;
  // the connections wait in the backlog and are served afterwards. Before
  // the fix libuv either spun on accept() inside one poll (the loop froze,
  // SIGTERM unheard) or accepted and closed connections unreported.
  const int before = net_test::count_fds();
  {
    NetLoop t;
    std::atomic<bool> watchdog_done{false};
    std::thread watchdog([&watchdog_done] {
      for (int i = 0; i < 600 && !watchdog_done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!watchdog_done.load()) {
        std::fprintf(stderr, "the loop froze at the descriptor limit\n");
        std::abort();
      }
    });
    bool got_sigterm = false;
    t.loop.add_signal_handler(SIGTERM, [&got_sigterm] { got_sigterm = true; });
    t.loop.run_until_complete([](NetLoop& t, bool& got_sigterm) -> Coroutine<> {
      Server server = co_await start_server(net_test::echo_lines, "127.0.0.1", 0);
      const int port = port_of(server);
      // An established connection, and sockets made now for the
      // connections that will come while no descriptor is left.
      const int existing = raw_connect(port);
      co_await until([&server] { return server.sockets().size() == 1; });
      std::vector<int> late;
      for (int i = 0; i < 3; ++i) late.push_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      co_await asyncio::sleep(0.05);  // the existing connection is accepted

      SlotThief thief;
      std::atomic<int> connected{0};
      std::atomic<bool> started{false}, go{false}, echoed{false};
      std::string existing_echo;
      std::thread client([&] {
        started = true;
        while (!go.load()) std::this_thread::yield();
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        for (int fd : late)
          if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) ++connected;
        existing_echo = raw_echo(existing, "still served\n");
        echoed = true;
      });
      while (!started.load()) std::this_thread::yield();
      DescriptorExhaustion limit(16);
      limit.exhaust();
      thief.arm();
      go = true;
      // The loop goes on while accept() fails: the report comes, the old
      // connection is served, timers fire, a signal is heard.
      const bool reported = co_await until([&t] { return !t.log.calls.empty(); });
      EXPECT_TRUE(reported) << "no report of the failed accept";
      const bool served = co_await until([&echoed] { return echoed.load(); });
      EXPECT_TRUE(served);
      client.join();
      EXPECT_EQ(existing_echo, "still served\n");
      EXPECT_EQ(connected.load(), 3);
      kill(getpid(), SIGTERM);
      const bool heard = co_await until([&got_sigterm] { return got_sigterm; });
      EXPECT_TRUE(heard) << "SIGTERM went unheard";
      thief.stop();
      limit.release();

      // Descriptors are back: after the back-off every late connection is
      // accepted and served, none was dropped.
      for (int fd : late) {
        std::string got;
        std::thread echo([&got, fd] { got = raw_echo(fd, "late\n"); });
        const bool done = co_await until([&got] { return !got.empty(); });
        echo.join();
        EXPECT_TRUE(done);
        EXPECT_EQ(got, "late\n");
        close(fd);
      }
      close(existing);
      EXPECT_EQ(t.log.calls.size(), 1u) << "one report per back-off";
      ExceptionContext report = t.log.calls.empty() ? ExceptionContext{} : t.log.calls.front();
      EXPECT_EQ(report.message, "socket.accept() out of system resource");
      try {
        if (report.exception) std::rethrow_exception(report.exception);
        ADD_FAILURE() << "no exception in the report";
      } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::too_many_files_open);
        EXPECT_EQ(std::string(e.what()), "[Errno 24] Too many open files");
      } catch (...) {
        ADD_FAILURE() << "not an OSError";
      }
      t.log.calls.clear();
      co_await net_test::close_server(server);
    }(t, got_sigterm));
    watchdog_done = true;
    watchdog.join();
    t.loop.remove_signal_handler(SIGTERM);
    t.run_briefly();
    t.loop.close();
    for (const auto& c : t.log.calls) ADD_FAILURE() << "exception handler: " << c.message;
  }
  EXPECT_EQ(net_test::count_fds(), before);
}


TEST(DescriptorLimit, LoopRaisesOrWorks) {
  // A loop needs an epoll descriptor and an eventfd (its cross-thread
  // wake-up); uv_async_init's failure was ignored, leaving a loop that
  // other threads could not wake. Now: OSError, or a loop that works.
  for (int headroom = 0; headroom < 4; ++headroom) {
    std::optional<EventLoop> loop;
    std::exception_ptr error;
    {
      DescriptorExhaustion limit(0);
      limit.exhaust();
      limit.release_some(headroom);
      error = asyncio_test::capture([&loop] { loop.emplace(); });
    }
    if (loop) {
      std::thread other([&loop] { loop->call_soon_threadsafe([&loop] { loop->stop(); }); });
      loop->run_forever();
      other.join();
      continue;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::too_many_files_open) << e.what();
    } catch (...) {
      ADD_FAILURE() << "headroom " << headroom << ": " << asyncio_test::what(error);
    }
  }
}
