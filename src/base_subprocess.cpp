// asyncio-cpp: SPDX-License-Identifier: MIT
// The transport of a child process over uv_spawn. ≙ base_subprocess.py
// (BaseSubprocessTransport, ReadSubprocessPipeProto,
// WriteSubprocessPipeProto) and unix_events._UnixSubprocessTransport;
// loop.subprocess_exec / subprocess_shell.
#include "detail/base_subprocess.hpp"

#include <asyncio/events.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/sleep.hpp>

#include "detail/debug.hpp"
#include "detail/report.hpp"
#include "detail/uv_error.hpp"
#include "detail/uv_loop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace asyncio::detail {

namespace {

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

/// The protocol of pipe `fd` (≙ ReadSubprocessPipeProto /
/// WriteSubprocessPipeProto): forwards to the subprocess protocol, and
/// holds the process transport while the pipe is open.
class PipeProto final : public Protocol {
 public:
  PipeProto(std::shared_ptr<SubprocessTransportImpl> proc, int fd) noexcept : proc_(std::move(proc)), fd_(fd) {}

  void data_received(std::string_view data) override {
    if (SubprocessProtocol* p = proc_->protocol()) p->pipe_data_received(fd_, data);
  }
  void connection_lost(std::exception_ptr exc) override {
    std::shared_ptr<SubprocessTransportImpl> proc = std::move(proc_);
    proc->pipe_connection_lost(fd_, exc);
  }
  void pause_writing() override {
    if (SubprocessProtocol* p = proc_->protocol()) p->pause_writing();
  }
  void resume_writing() override {
    if (SubprocessProtocol* p = proc_->protocol()) p->resume_writing();
  }

 private:
  std::shared_ptr<SubprocessTransportImpl> proc_;
  int fd_;
};

}  // namespace

std::shared_ptr<SubprocessTransportImpl> SubprocessTransportImpl::spawn(EventLoop& loop, const SpawnRequest& request,
                                                                        std::shared_ptr<SubprocessProtocol> protocol) {
  Stdio stdio;
  for (int i = 0; i < 3; ++i) stdio.set(loop, i, request.stdio[i], request.pipesize);

  std::vector<char*> argv = c_strings(request.args);
  std::vector<char*> envp;
  if (request.env) envp = c_strings(*request.env);
  uv_process_options_t options{};
  options.exit_cb = &SubprocessTransportImpl::on_exit;
  options.file = request.file.c_str();
  options.args = argv.data();
  options.env = request.env ? envp.data() : nullptr;
  options.cwd = request.cwd.empty() ? nullptr : request.cwd.c_str();
  options.flags = request.start_new_session ? UV_PROCESS_DETACHED : 0;
  options.stdio_count = 3;
  options.stdio = stdio.child;

  auto self = std::make_shared<SubprocessTransportImpl>(Tag{}, loop);
  self->hold_self(self);  // until the handle is closed, on failure too
  const int rc = uv_spawn(uv_loop_of(loop), &self->h_, &options);
  // libuv initialises the handle even when the spawn fails.
  self->bind_handle(reinterpret_cast<uv_handle_t*>(&self->h_));
  if (rc < 0) {
    self->close_handle();
    self->exited_ = true;
    throw_os_error(rc, std::string(std::strerror(-rc)) + ": '" + failed_path(rc, request) + "'");
  }
  stdio.spawned = true;
  self->pid_ = self->h_.pid;
  self->protocol_ = std::move(protocol);
  // ≙ _connect_pipes: every pipe, then connection_made(). What the child
  // writes or its exit can only come on a later pass.
  for (int i = 0; i < 3; ++i) {
    if (!stdio.pipes[i]) continue;
    self->pipes_[i] = stdio.pipes[i];
    self->pipe_open_[i] = true;
    connect_protocol(stdio.pipes[i], std::make_shared<PipeProto>(self, i));
  }
  try {
    self->protocol_->connection_made(*self);
  } catch (...) {
    report_callback_error(&loop.core(), std::current_exception());
  }
  return self;
}

void SubprocessTransportImpl::on_exit(uv_process_t* h, std::int64_t exit_status, int term_signal) noexcept {
  auto* self = static_cast<SubprocessTransportImpl*>(of(reinterpret_cast<uv_handle_t*>(h)));
  self->exited_ = true;
  self->status_ = term_signal ? -term_signal : static_cast<int>(exit_status);
  self->post();  // a closing loop closes the handle instead
}

void SubprocessTransportImpl::run(bool discard) noexcept {
  if (discard) return;
  returncode_ = status_;
  // ≙ _process_exited: process_exited() through call_soon, whose
  // exception goes to the handler; then the waiters, then _try_finish.
  if (protocol_) {
    try {
      protocol_->process_exited();
    } catch (...) {
      report_callback_error(core(), std::current_exception());
    }
  }
  exit_waiters_.wake(exit_waiters_.size());
  close_orphaned_stdin();
  try_finish();
  close_handle();
}

void SubprocessTransportImpl::close_orphaned_stdin() noexcept {
  // ≙ the reader _UnixWritePipeTransport keeps on its pipe: once the read
  // end is gone (the child exited and nobody else holds it) the pipe is
  // closed, not left open until the next write. poll() tells: POLLERR on
  // a write end without a reader. With data still buffered, libuv's next
  // write fails with EPIPE and gives BrokenPipeError instead.
  if (!pipe_open_[0] || pipes_[0]->handle_closing()) return;
  uv_os_fd_t fd = -1;
  if (uv_fileno(pipes_[0]->handle(), &fd) != 0) return;
  pollfd p{fd, 0, 0};
  if (::poll(&p, 1, 0) == 1 && (p.revents & POLLERR) && pipes_[0]->get_write_buffer_size() == 0) pipes_[0]->close();
}

void SubprocessTransportImpl::close_for_loop_shutdown() noexcept {
  // The loop will run nothing more: a child still running is killed and
  // collected here, so that it does not outlive the loop as a zombie.
  const bool running = !exited_;
  if (core()->debug) warn_unclosed(core(), "transport <SubprocessTransport pid=" + std::to_string(pid_) + (running ? " running>" : ">"));
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
  protocol_.reset();  // no callback any more; breaks the protocol's cycle
}

void SubprocessTransportImpl::pipe_connection_lost(int fd, std::exception_ptr exc) noexcept {
  pipe_open_[fd] = false;
  if (protocol_) {
    try {
      protocol_->pipe_connection_lost(fd, exc);
    } catch (...) {
      report_callback_error(core(), std::current_exception());
    }
  }
  try_finish();
}

void SubprocessTransportImpl::try_finish() noexcept {
  if (finished_ || !returncode_ || pipe_open_[0] || pipe_open_[1] || pipe_open_[2]) return;
  finished_ = true;
  try {
    std::shared_ptr<SubprocessTransportImpl> self =
        std::static_pointer_cast<SubprocessTransportImpl>(SubprocessTransport::shared_from_this());
    // ≙ _call_connection_lost, through call_soon.
    core()->owner->call_soon([self] {
      if (std::shared_ptr<SubprocessProtocol> p = std::move(self->protocol_)) p->connection_lost(nullptr);
    });
  } catch (...) {
    report_callback_error(core(), std::current_exception());
  }
}

Coroutine<int> SubprocessTransportImpl::wait() {
  // The frame holds the transport: a wait outlives every other handle.
  std::shared_ptr<SubprocessTransport> keep = SubprocessTransport::shared_from_this();
  if (!returncode_) {
    WaitEntry exited(exit_waiters_, core());
    co_await exited;
  }
  co_return *returncode_;
}

std::shared_ptr<Transport> SubprocessTransportImpl::get_pipe_transport(int fd) const {
  return fd >= 0 && fd < 3 ? pipes_[fd] : nullptr;
}

void SubprocessTransportImpl::send_signal(int sig) {
  // Once libuv has collected the status the pid may belong to another
  // process: never signal it (≙ _check_proc's ProcessLookupError).
  if (exited_) throw_errno(ESRCH);
  if (int rc = uv_process_kill(&h_, sig)) throw_os_error(rc);
}

void SubprocessTransportImpl::terminate() { send_signal(SIGTERM); }
void SubprocessTransportImpl::kill() { send_signal(SIGKILL); }

std::any SubprocessTransportImpl::get_extra_info(std::string_view, std::any default_value) const {
  return default_value;
}

void SubprocessTransportImpl::close() {
  // ≙ BaseSubprocessTransport.close: the pipes, and a child still running
  // is killed.
  if (closing_) return;
  closing_ = true;
  for (const std::shared_ptr<StreamTransport>& p : pipes_)
    if (p) p->close();
  if (!exited_) ::kill(pid_, SIGKILL);
}

Coroutine<SubprocessResult> subprocess(EventLoop& loop, SubprocessProtocolFactory factory, SpawnRequest request) {
  std::shared_ptr<SubprocessProtocol> protocol = factory();
  if (!protocol) throw std::invalid_argument("the protocol factory returned no protocol");
  std::shared_ptr<SubprocessTransportImpl> transport = SubprocessTransportImpl::spawn(loop, request, protocol);
  // CPython connects the pipes on a later pass before returning; the same
  // one pass here is where a cancellation of the creating task lands: the
  // child is killed and collected first (≙ subprocess_exec's cleanup).
  std::exception_ptr cancelled;
  try {
    co_await YieldAwaiter{};
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    transport->close();
    Coroutine<int> exited = transport->wait();
    co_await exited;
    std::rethrow_exception(cancelled);
  }
  co_return SubprocessResult{std::move(transport), std::move(protocol)};
}

}  // namespace asyncio::detail
