// asyncio-cpp: SPDX-License-Identifier: MIT
// Helpers of the subprocess tests (test_subprocess.cpp,
// test_subprocess_protocol.cpp): the fixture that checks no child and no
// descriptor is left behind, /proc readers, a temporary directory.
#ifndef ASYNCIO_TESTS_SUBPROCESS_TEST_HPP
#define ASYNCIO_TESTS_SUBPROCESS_TEST_HPP

#include <asyncio/subprocess.hpp>
#include <asyncio/timeouts.hpp>

#include "net_test.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace subprocess_test {

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::what;

// ---- helpers ------------------------------------------------------------------

/// No arguments (GCC 12: no braced list inside a co_await expression).
inline constexpr StringList no_args{};
/// BLOCKED: `sleep 3600`.
inline const std::array<std::string_view, 1> blocked_args{"3600"};

/// A child process of this one, from /proc.
struct Child {
  int pid;
  char state;  // 'Z' for a zombie
};

/// The children of this process, running or zombie (from /proc/<pid>/stat).
inline std::vector<Child> children() {
  std::vector<Child> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  const int self = getpid();
  while (dirent* e = readdir(d)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    const std::string path = std::string("/proc/") + e->d_name + "/stat";
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) continue;
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    const char* p = std::strrchr(buf, ')');
    char state = '?';
    int ppid = 0;
    if (p && std::sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == self)
      out.push_back({std::atoi(e->d_name), state});
  }
  closedir(d);
  return out;
}

inline std::string describe(const std::vector<Child>& cs) {
  std::ostringstream s;
  for (const auto& c : cs) s << " pid " << c.pid << " (state " << c.state << ")";
  return s.str();
}

/// True when this process has no child at all, zombie or running. Does
/// not collect anything (WNOWAIT), so the loop's own reaping is untouched.
inline bool no_children() {
  siginfo_t info{};
  errno = 0;
  const int r = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
  return r == -1 && errno == ECHILD;
}

/// The state letter of process `pid` ('R', 'S', 'Z', ...), '\0' if gone.
inline char proc_state(int pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return '\0';
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  char state = '\0';
  if (!p || std::sscanf(p + 1, " %c", &state) != 1) return '\0';
  return state;
}

inline std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

using asyncio_test::has_errc;

/// A directory made with mkdtemp, removed with its contents at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/asyncio-subprocess-XXXXXX";
    if (mkdtemp(tmpl)) path = std::filesystem::canonical(tmpl).string();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

/// The fixture of every test: no child process and no file descriptor left
/// behind. count_fds() makes a first loop before the first count (libuv's
/// signal-lock pipe, opened once per process, is not a leak).
class Subprocess : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = net_test::count_fds();
    const auto left = children();
    if (!left.empty()) {
      ADD_FAILURE() << "child processes before the test:" << describe(left);
      reap(left);
    }
  }

  void TearDown() override {
    const auto left = children();
    errno = 0;
    const pid_t r = waitpid(-1, nullptr, WNOHANG);
    const int err = errno;
    EXPECT_TRUE(r == -1 && err == ECHILD) << "child processes left behind (zombie or running):" << describe(left)
                                           << " (waitpid gave " << r << ", errno " << err << ")";
    reap(left);
    EXPECT_EQ(net_test::count_fds(), fds_before_) << "file descriptors leaked";
  }

  static void reap(const std::vector<Child>& cs) {
    for (const auto& c : cs) {
      ::kill(c.pid, SIGKILL);
      waitpid(c.pid, nullptr, 0);
    }
  }

  /// Runs `body()` (a lambda returning Coroutine<>) as the main task of a
  /// fresh real-time loop under a `limit` seconds wait_for, closes the
  /// loop, and checks that the loop's exception handler got nothing.
  template <class F>
  void run(F body, double limit = 30.0) {
    asyncio_test::TestLoop t(false);
    std::exception_ptr e =
        asyncio_test::capture([&] { t.loop.run_until_complete(asyncio::wait_for(body(), limit)); });
    if (e) {
      if (holds<TimeoutError>(e))
        ADD_FAILURE() << "the test did not finish within " << limit << " s";
      else
        ADD_FAILURE() << "the test body threw: " << what(e);
    }
    t.run_briefly();
    t.loop.close();
    for (const auto& c : t.log.calls)
      ADD_FAILURE() << "exception handler: " << c.message << ": " << (c.exception ? what(c.exception) : "");
  }

  int fds_before_ = 0;
};


}  // namespace subprocess_test

#endif  // ASYNCIO_TESTS_SUBPROCESS_TEST_HPP
