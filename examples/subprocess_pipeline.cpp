// subprocess_pipeline: `ls -1 DIR | sort -r` built from two child processes
// and a task that carries the bytes between them, showing
// create_subprocess_exec() with PIPE streams, write() + drain() with
// back-pressure, closing a child's stdin to give it EOF, readline() on a
// child's stdout, wait() and communicate().
//
// usage: subprocess_pipeline       makes a scratch directory under /tmp with
//                                  four known files, lists it, removes it
//                                  (deterministic output; exits by itself)
//        subprocess_pipeline DIR   lists DIR instead
//
// Exits 0 when every child exited 0, 1 otherwise (e.g. DIR does not exist:
// ls says so on stderr, which the children inherit).
#include <asyncio/asyncio.hpp>
#include <asyncio/subprocess.hpp>

#include <stdlib.h>  // mkdtemp

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern char** environ;  // POSIX: the process's environment

namespace {

// ≙ `async def pump(src, dst)`: copies src to dst until EOF, then closes
// dst, which is what makes `sort` see the end of its input and print.
asyncio::Coroutine<> pump(asyncio::StreamReader from, asyncio::StreamWriter to) {
  try {
    for (;;) {
      std::string chunk = co_await from.read(4096);
      if (chunk.empty()) break;  // ls closed its stdout: EOF
      to.write(chunk);
      // Without drain() a fast producer would buffer without bound in this
      // process while the consumer is slow: drain() waits while the pipe's
      // write buffer is over its high-water mark.
      co_await to.drain();
    }
  } catch (const std::system_error& e) {
    // sort went away before reading everything (EPIPE / "Connection lost"):
    // nothing more to send; its return code tells the story.
    std::fprintf(stderr, "pump: %s\n", e.what());
  }
  to.close();
  try {
    co_await to.wait_closed();
  } catch (const std::system_error&) {
    // Lost with an error (reported above): closed all the same.
  }
}

// The parent's environment with LC_ALL=C, so that ls and sort order bytes,
// not letters of the user's locale: the output is the same everywhere.
std::vector<std::string> c_locale_environment() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    if (!entry.starts_with("LC_ALL=")) env.emplace_back(entry);
  }
  env.emplace_back("LC_ALL=C");
  return env;
}

asyncio::Coroutine<int> pipeline(std::string dir) {
  const std::vector<std::string> env = c_locale_environment();

  // Argument lists are named before the co_await: GCC 12 cannot compile a
  // braced list inside a co_await expression.
  const std::array<std::string_view, 2> ls_args{"-1", dir};
  asyncio::Process ls =
      co_await asyncio::create_subprocess_exec("ls", ls_args, {.stdout_ = asyncio::PIPE, .env = env});
  const std::array<std::string_view, 1> sort_args{"-r"};
  asyncio::Process sort = co_await asyncio::create_subprocess_exec(
      "sort", sort_args, {.stdin_ = asyncio::PIPE, .stdout_ = asyncio::PIPE, .env = env});

  // ls → sort runs in its own task while this one reads what sort prints:
  // writing to a child while nobody reads its output could fill the pipes
  // and block everyone (the deadlock rule of docs/subprocess.md).
  asyncio::Task<> pumping = asyncio::create_task(pump(*ls.stdout_, *sort.stdin_));

  std::string sorted;
  int n = 0;
  for (;;) {
    std::string line = co_await sort.stdout_->readline();
    if (line.empty()) break;  // EOF: sort is done writing
    sorted += line;
    std::printf("%2d  %s", ++n, line.c_str());
  }
  co_await pumping;

  // wait() returns once the child has exited (its pipes need not be closed).
  const int ls_status = co_await ls.wait();
  const int sort_status = co_await sort.wait();
  std::printf("ls exited with %d, sort exited with %d\n", ls_status, sort_status);

  // communicate() is the safe one-shot form: it writes the input, closes
  // stdin, and reads stdout (and stderr) to EOF all at once, so a child that
  // writes a lot before reading everything cannot deadlock against us.
  const std::array<std::string_view, 1> wc_args{"-l"};
  asyncio::Process wc = co_await asyncio::create_subprocess_exec(
      "wc", wc_args, {.stdin_ = asyncio::PIPE, .stdout_ = asyncio::PIPE, .env = env});
  auto [out, err] = co_await wc.communicate(sorted);
  const int wc_status = wc.returncode().value();  // communicate() waited for the exit
  const int counted = std::atoi(out->c_str());    // stdout was a pipe: `out` is set
  std::printf("wc -l counted %d line(s) and exited with %d\n", counted, wc_status);

  co_return ls_status == 0 && sort_status == 0 && wc_status == 0 ? 0 : 1;
}

// A directory under /tmp with known files, removed when it goes away.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    char name[] = "/tmp/subprocess_pipeline.XXXXXX";
    if (!::mkdtemp(name)) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = name;
    for (const char* file : {"apple", "banana", "cherry", "date"}) std::ofstream(path_ / file) << file << "\n";
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

int main(int argc, char** argv) {
  // pipeline() gives the exit status; an error (FileNotFoundError when ls
  // or sort is not installed) ends the program with its traceback line.
  if (argc > 1) {
    std::printf("ls -1 %s | sort -r\n", argv[1]);
    return asyncio::run_main(pipeline(argv[1]));
  }
  ScratchDirectory scratch;
  std::printf("ls -1 <scratch directory with apple, banana, cherry, date> | sort -r\n");
  return asyncio::run_main(pipeline(scratch.path()));
}
