// asyncio-cpp: SPDX-License-Identifier: MIT
// Subprocesses over uv_spawn. ≙ Lib/asyncio/subprocess.py, with the
// transport of base_subprocess.py / unix_events.py.
#include <asyncio/subprocess.hpp>

#include <asyncio/detail/waiters.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/sleep.hpp>

#include "detail/stream_transport.hpp"
#include "detail/uv_error.hpp"
#include "detail/uv_handle.hpp"
#include "detail/uv_loop.hpp"

#include <uv.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace asyncio {

namespace detail {

/// The child and its libuv handle (≙ BaseSubprocessTransport).
///
/// The exit callback only records the status and queues the state on the
/// ready queue; returncode and the waiters are set during a loop pass.
/// Lifetime: the state holds itself (`self_`) while its handle is open, so
/// a child whose Process handles are all gone is still collected.
class ProcessState final : public SharedUvHandle {
  struct Tag {};

 public:
  ProcessState(Tag, EventLoop& loop) : SharedUvHandle(&loop.core()) {}

  static Process spawn(EventLoop& loop, const SpawnRequest& request);

  int pid() const noexcept { return pid_; }
  const std::optional<int>& returncode() const noexcept { return returncode_; }
  std::shared_ptr<Transport> pipe(int fd) const { return fd >= 0 && fd < 3 ? pipes_[fd] : nullptr; }

  void send_signal(int sig) {
    // Once libuv has collected the status the pid may belong to another
    // process: never signal it (≙ _check_proc's ProcessLookupError).
    if (exited_) throw_errno(ESRCH);
    if (int rc = uv_process_kill(&h_, sig)) throw_os_error(rc);
  }

  /// The tasks waiting for the exit (≙ _exit_waiters), woken by finish().
  WaiterList& exit_waiters() noexcept { return exit_waiters_; }

  void close_for_loop_shutdown() noexcept override {
    // The loop will run nothing more: a child still running is killed and
    // collected here, so that it does not outlive the loop as a zombie.
    const bool running = !exited_;
    close_handle();
    if (running) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      status_ = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
      exited_ = true;  // a handle kept after close() must not signal the pid
    }
    returncode_ = status_;
  }

 private:
  static void on_exit(uv_process_t* h, std::int64_t exit_status, int term_signal) noexcept {
    auto* self = static_cast<ProcessState*>(of(reinterpret_cast<uv_handle_t*>(h)));
    self->exited_ = true;
    self->status_ = term_signal ? -term_signal : static_cast<int>(exit_status);
    self->post();  // a closing loop closes the handle instead
  }

  /// ≙ _process_exited: publishes the return code and wakes the waiters.
  void run(bool discard) noexcept override {
    if (discard) return;
    returncode_ = status_;
    exit_waiters_.wake(exit_waiters_.size());
    close_handle();
  }

  uv_process_t h_{};
  std::shared_ptr<StreamTransport> pipes_[3];
  WaiterList exit_waiters_;
  std::optional<int> returncode_;
  int pid_ = 0;
  int status_ = 0;
  bool exited_ = false;  // libuv collected the status
};

namespace {

/// The protocol of a pipe (≙ ReadSubprocessPipeProto / WriteSubprocessPipeProto
/// with SubprocessStreamProtocol): a stream protocol whose transport closes
/// at EOF, as CPython's read-pipe transport does, instead of staying
/// half-open.
class PipeProtocol final : public StreamReaderProtocol {
 public:
  using StreamReaderProtocol::StreamReaderProtocol;
  bool eof_received() override {
    StreamReaderProtocol::eof_received();
    return false;
  }
};

/// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

/// argv / envp for libuv: pointers into `strings`, null-terminated.
std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

/// The child's standard streams and the parent's ends of its pipes.
struct Stdio {
  uv_stdio_container_t child[3]{};
  Fd child_ends[3];  // closed in the parent once the child has them
  Fd devnull;
  std::shared_ptr<StreamTransport> pipes[3];

  void inherit(int i, int fd) noexcept {
    child[i].flags = UV_INHERIT_FD;
    child[i].data.fd = fd;
  }

  void make_pipe(EventLoop& loop, int i, int pipesize) {
    // A pipe, as CPython's subprocess makes (not the socket pair of libuv's
    // UV_CREATE_PIPE: a child cannot open /dev/stdout on a socket).
    // Close-on-exec on both ends; the parent's end non-blocking.
    uv_file fds[2];
    const bool child_reads = i == 0;
    if (int rc = uv_pipe(fds, child_reads ? 0 : UV_NONBLOCK_PIPE, child_reads ? UV_NONBLOCK_PIPE : 0))
      throw_os_error(rc);
    Fd parent(fds[child_reads ? 1 : 0]);
    child_ends[i] = Fd(fds[child_reads ? 0 : 1]);
    // ≙ Popen's pipesize; a size the system refuses is an error, as there.
    if (pipesize > 0 && ::fcntl(parent.get(), F_SETPIPE_SZ, pipesize) < 0) throw_errno(errno);
    pipes[i] = StreamTransport::make(loop, StreamTransport::Kind::pipe);
    if (int rc = pipes[i]->open(parent.get())) throw_os_error(rc);
    parent.release();
    if (child_reads) pipes[i]->set_write_pipe();
    inherit(i, child_ends[i].get());
  }

  int devnull_fd() {
    if (devnull.get() < 0) {
      devnull = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
      if (devnull.get() < 0) throw_errno(errno);
    }
    return devnull.get();
  }

  void set(EventLoop& loop, int i, std::optional<int> what, int pipesize) {
    if (!what) return inherit(i, i);
    if (*what == PIPE) return make_pipe(loop, i, pipesize);
    if (*what == DEVNULL) return inherit(i, devnull_fd());
    if (*what == STDOUT) {
      if (i != 2) throw std::invalid_argument("STDOUT can only be used for stderr");
      child[2] = child[1];
      return;
    }
    if (*what < 0) throw std::invalid_argument("invalid stream argument " + std::to_string(*what));
    inherit(i, *what);
  }

  bool spawned = false;

  ~Stdio() {
    // What a failed spawn leaves.
    if (spawned) return;
    for (auto& p : pipes) {
      if (p) p->discard();
    }
  }
};

/// What CPython names in a spawn error: the working directory when it is
/// the one missing, else the program.
const std::string& failed_path(int rc, const SpawnRequest& request) {
  struct stat st {};
  if (rc == UV_ENOENT && !request.cwd.empty() && ::stat(request.cwd.c_str(), &st) != 0) return request.cwd;
  return request.file;
}

}  // namespace

Process ProcessState::spawn(EventLoop& loop, const SpawnRequest& request) {
  // The readers first: a bad limit must fail before a child exists.
  std::optional<StreamReader> readers[3];
  for (int i : {1, 2}) {
    if (request.stdio[i] == PIPE) readers[i].emplace(request.limit);
  }
  Stdio stdio;
  for (int i = 0; i < 3; ++i) stdio.set(loop, i, request.stdio[i], request.pipesize);

  std::vector<char*> argv = c_strings(request.args);
  std::vector<char*> envp;
  if (request.env) envp = c_strings(*request.env);
  uv_process_options_t options{};
  options.exit_cb = &ProcessState::on_exit;
  options.file = request.file.c_str();
  options.args = argv.data();
  options.env = request.env ? envp.data() : nullptr;
  options.cwd = request.cwd.empty() ? nullptr : request.cwd.c_str();
  options.flags = request.start_new_session ? UV_PROCESS_DETACHED : 0;
  options.stdio_count = 3;
  options.stdio = stdio.child;

  auto state = std::make_shared<ProcessState>(Tag{}, loop);
  state->hold_self(state);  // until the handle is closed, on failure too
  const int rc = uv_spawn(uv_loop_of(loop), &state->h_, &options);
  // libuv initialises the handle even when the spawn fails.
  state->bind_handle(reinterpret_cast<uv_handle_t*>(&state->h_));
  if (rc < 0) {
    state->close_handle();
    state->exited_ = true;
    throw_os_error(rc, std::string(std::strerror(-rc)) + ": '" + failed_path(rc, request) + "'");
  }
  stdio.spawned = true;
  state->pid_ = state->h_.pid;

  Process proc(state);
  for (int i = 0; i < 3; ++i) {
    std::shared_ptr<StreamTransport> pipe = stdio.pipes[i];
    if (!pipe) continue;
    state->pipes_[i] = pipe;
    // stdin's protocol gets no data: its reader only serves the writer.
    StreamReader reader = i ? *readers[i] : StreamReader();
    std::shared_ptr<StreamReaderProtocol> protocol = std::make_shared<PipeProtocol>(reader);
    connect_protocol(pipe, protocol);
    if (i == 0)
      proc.stdin_.emplace(pipe, std::move(protocol), std::nullopt);
    else
      (i == 1 ? proc.stdout_ : proc.stderr_) = reader;
  }
  return proc;
}

SpawnRequest spawn_request(std::string file, std::vector<std::string> args, const SubprocessOptions& options) {
  SpawnRequest r{std::move(file), std::move(args), {options.stdin_, options.stdout_, options.stderr_}, options.limit,
                 std::string(options.cwd), std::nullopt, options.start_new_session, options.pipesize};
  if (options.env.given()) r.env = options.env.to_vector();
  return r;
}

Coroutine<Process> create_subprocess(SpawnRequest request) {
  Process proc = ProcessState::spawn(get_running_loop(), request);
  // CPython connects the pipes on a later pass before returning the
  // Process; the same one pass here is where a cancellation of the
  // creating task lands (≙ _make_subprocess_transport's cleanup).
  std::exception_ptr cancelled;
  try {
    co_await YieldAwaiter{};
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    try {
      proc.kill();
    } catch (const std::system_error&) {
      // It has exited already.
    }
    Coroutine<int> exited = proc.wait();
    co_await exited;
    std::rethrow_exception(cancelled);
  }
  co_return proc;
}

namespace {

Coroutine<int> wait_process(std::shared_ptr<ProcessState> s) {
  if (!s->returncode()) {
    WaitEntry exited(s->exit_waiters(), &get_running_loop().core());
    co_await exited;
  }
  co_return *s->returncode();
}

bool is_broken_pipe(const std::system_error& e) noexcept {
  return e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset;
}

/// ≙ Process._feed_stdin.
Coroutine<> feed_stdin(std::optional<StreamWriter> in, std::string input) {
  if (!in) co_return;
  try {
    if (!input.empty()) {
      in->write(input);
      co_await in->drain();
    }
  } catch (const std::system_error& e) {
    // The child did not read it all: communicate() ignores that.
    if (!is_broken_pipe(e)) throw;
  }
  in->close();
}

/// ≙ Process._read_stream.
Coroutine<std::optional<std::string>> read_stream(std::optional<StreamReader> out, std::shared_ptr<Transport> pipe) {
  if (!out) co_return std::nullopt;
  std::string data = co_await out->read(-1);
  if (pipe) pipe->close();
  co_return data;
}

Coroutine<std::pair<std::optional<std::string>, std::optional<std::string>>> communicate(
    std::shared_ptr<ProcessState> s, Process proc, std::string input) {
  Coroutine<> feed = feed_stdin(proc.stdin_, std::move(input));
  Coroutine<std::optional<std::string>> out = read_stream(proc.stdout_, s->pipe(1));
  Coroutine<std::optional<std::string>> err = read_stream(proc.stderr_, s->pipe(2));
  auto [fed, out_data, err_data] = co_await gather(std::move(feed), std::move(out), std::move(err));
  (void)fed;
  Coroutine<int> exited = wait_process(s);
  co_await exited;
  co_return std::pair(std::move(out_data), std::move(err_data));
}

}  // namespace

}  // namespace detail

Process::Process(std::shared_ptr<detail::ProcessState> state) : s_(std::move(state)) {}

const std::shared_ptr<detail::ProcessState>& Process::state() const {
  if (!s_) throw RuntimeError("Process object is not initialized.");
  return s_;
}

int Process::pid() const { return state()->pid(); }

std::optional<int> Process::returncode() const { return state()->returncode(); }

Coroutine<int> Process::wait() const { return detail::wait_process(state()); }

Coroutine<std::pair<std::optional<std::string>, std::optional<std::string>>> Process::communicate(
    std::string_view input) const {
  return detail::communicate(state(), *this, std::string(input));
}

void Process::send_signal(int sig) const { state()->send_signal(sig); }

void Process::terminate() const { send_signal(SIGTERM); }

void Process::kill() const { send_signal(SIGKILL); }

std::shared_ptr<Transport> Process::get_pipe_transport(int fd) const { return state()->pipe(fd); }

}  // namespace asyncio
