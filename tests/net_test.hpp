// asyncio-cpp: SPDX-License-Identifier: MIT
// Helpers for the network tests: a real-time loop per test with a check
// that no file descriptor leaked, peers in Python and in raw sockets.
#ifndef ASYNCIO_TESTS_NET_TEST_HPP
#define ASYNCIO_TESTS_NET_TEST_HPP

#include <asyncio/base_events.hpp>
#include <asyncio/streams.hpp>

#include "asyncio_test.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace net_test {

/// Open file descriptors of this process (entries of /proc/self/fd). The
/// first loop of a process makes libuv open a pipe it keeps for good (its
/// signal lock): one loop is made first, so that the count is stable.
inline int count_fds() {
  static const bool warm = [] {
    asyncio::EventLoop loop;
    return true;
  }();
  (void)warm;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d)) ++n;
  closedir(d);
  return n;
}

/// A loop on the real clock with its exception handler logged.
struct NetLoop : asyncio_test::TestLoop {
  NetLoop() : TestLoop(false) {}
};

/// Runs `body(loop)` (a function or capture-less lambda returning a
/// Coroutine<>) on a fresh real-time loop, closes the loop, and checks that
/// the loop's exception handler got nothing and that the process has as
/// many file descriptors open as before. (Tests that expect reports use a
/// NetLoop of their own.)
template <class F>
void run_net(F body) {
  const int before = count_fds();
  {
    NetLoop t;
    t.loop.run_until_complete(body(t));
    t.run_briefly();  // the close callbacks of what the body closed
    t.loop.close();
    for (const auto& c : t.log.calls)
      ADD_FAILURE() << "exception handler: " << c.message << ": " << asyncio_test::what(c.exception);
  }
  EXPECT_EQ(count_fds(), before) << "file descriptors leaked";
}

/// Closes `server` and waits until its connections are gone too.
inline asyncio::Coroutine<> close_server(asyncio::Server server) {
  server.close();
  co_await server.wait_closed();
}

/// The first listening port of `server`.
inline int port_of(const asyncio::Server& server) { return server.sockets().at(0).getsockname().port; }

/// A unique path for a Unix socket.
inline std::string unix_path(const char* tag) {
  return "/tmp/asyncio-test-" + std::to_string(getpid()) + "-" + tag + ".sock";
}

/// The peers are CPython 3.13's asyncio: where pyenv has 3.13.0 (every
/// machine of ours), python3 is that one, whatever the global version.
inline void use_python_313() {
  const char* root = std::getenv("PYENV_ROOT");
  if (!root || std::getenv("PYENV_VERSION")) return;
  const std::string dir = std::string(root) + "/versions/3.13.0";
  if (access(dir.c_str(), X_OK) == 0) setenv("PYENV_VERSION", "3.13.0", 0);
}

/// A child process running `python3 -c SCRIPT ARGS...`, its stdout read
/// through a pipe. Bounded in time by whoever waits for it.
class Python {
 public:
  Python(const std::string& script, const std::vector<std::string>& args) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    std::vector<std::string> argv_s{"python3", "-c", script};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    use_python_313();
    if (posix_spawnp(&pid_, "python3", &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_fd_ = fds[0];
    fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  }
  Python(const Python&) = delete;
  Python& operator=(const Python&) = delete;
  ~Python() {
    if (pid_ > 0 && status_ < 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
  }

  bool started() const { return pid_ > 0; }
  const std::string& output() const { return out_; }

  /// Waits (polling the loop) for a line on stdout; "" after `timeout`.
  asyncio::Coroutine<std::string> read_line(double timeout) {
    const double deadline = asyncio::get_running_loop().time() + timeout;
    for (;;) {
      drain();
      if (auto nl = out_.find('\n', consumed_); nl != std::string::npos) {
        std::string line = out_.substr(consumed_, nl - consumed_);
        consumed_ = nl + 1;
        co_return line;
      }
      if (asyncio::get_running_loop().time() > deadline || exited()) co_return std::string();
      co_await asyncio::sleep(0.005);
    }
  }

  /// Waits (polling the loop, so that our side keeps serving) for the
  /// process to exit; kills it after `timeout`. Returns its exit status
  /// (-1 if killed).
  asyncio::Coroutine<int> wait(double timeout) {
    const double deadline = asyncio::get_running_loop().time() + timeout;
    while (!exited()) {
      drain();
      if (asyncio::get_running_loop().time() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        status_ = 255 << 8;
        co_return -1;
      }
      co_await asyncio::sleep(0.005);
    }
    drain();
    co_return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

  void terminate() {
    if (pid_ > 0 && !exited()) kill(pid_, SIGTERM);
  }

 private:
  bool exited() {
    if (status_ >= 0) return true;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
    return status_ >= 0;
  }
  void drain() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      out_.append(buf, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int status_ = -1;
  std::string out_;
  std::size_t consumed_ = 0;
};

/// A blocking IPv4 TCP socket listening on 127.0.0.1 (a peer that is not
/// asyncio, for tests that must not use it).
inline int raw_listener(int& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 16) != 0) return -1;
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

/// Makes close() of `fd` send a RST instead of a FIN.
inline void set_linger_zero(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/// Polls `cond` between short sleeps for at most `seconds` of loop time.
inline asyncio::Coroutine<bool> until(std::function<bool()> cond, double seconds = 20) {
  const double deadline = asyncio::get_running_loop().time() + seconds;
  while (!cond()) {
    if (asyncio::get_running_loop().time() > deadline) co_return false;
    co_await asyncio::sleep(0.001);
  }
  co_return true;
}

/// A blocking socket connected to 127.0.0.1:`port`.
inline int raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/// Echoes lines until EOF, then closes.
inline asyncio::Coroutine<> echo_lines(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  for (;;) {
    std::string line = co_await reader.readline();
    if (line.empty()) break;
    writer.write(line);
    co_await writer.drain();
  }
  writer.close();
}

/// A deterministic byte pattern (all 256 values appear).
inline std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  unsigned x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 16);
  }
  return s;
}

}  // namespace net_test

#endif  // ASYNCIO_TESTS_NET_TEST_HPP
