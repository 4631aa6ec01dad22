// asyncio-cpp: SPDX-License-Identifier: MIT
// Process and create_subprocess_*: a thin layer over the subprocess
// transport (base_subprocess.cpp), as Lib/asyncio/subprocess.py is over
// loop.subprocess_exec.
#include <asyncio/subprocess.hpp>

#include <asyncio/detail/waiters.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/sleep.hpp>

#include "detail/base_subprocess.hpp"

#include <csignal>
#include <system_error>
#include <utility>

namespace asyncio {

namespace detail {

/// What a Process is (≙ subprocess.SubprocessStreamProtocol): the
/// protocol of its transport, feeding the stdout / stderr readers and
/// giving the stdin writer its flow control and closing.
class ProcessState final : public SubprocessProtocol, public std::enable_shared_from_this<ProcessState> {
 public:
  /// The readers first: a bad limit must fail before a child exists.
  explicit ProcessState(const SpawnRequest& request) {
    for (int i : {1, 2}) {
      if (request.stdio[i] == PIPE) readers_[i].emplace(request.limit);
    }
  }

  void connection_made(SubprocessTransport& t) override {
    for (int i : {1, 2}) {
      if (std::shared_ptr<Transport> pipe = t.get_pipe_transport(i)) readers_[i]->set_transport(pipe);
    }
    if (std::shared_ptr<Transport> pipe = t.get_pipe_transport(0)) {
      // stdin's protocol gets no data: its reader only serves the writer.
      stdin_ = std::make_shared<StreamReaderProtocol>(StreamReader());
      stdin_->connection_made(*pipe);
    }
  }
  void pipe_data_received(int fd, std::string_view data) override { readers_[fd]->feed_data(data); }
  void pipe_connection_lost(int fd, std::exception_ptr exc) override {
    if (fd == 0) return stdin_->connection_lost(exc);
    if (exc)
      readers_[fd]->set_exception(exc);
    else
      readers_[fd]->feed_eof();
  }
  void pause_writing() override { stdin_->pause_writing(); }
  void resume_writing() override { stdin_->resume_writing(); }

  /// The Process over `transport`, whose protocol this is.
  Process process(std::shared_ptr<SubprocessTransportImpl> transport) {
    transport_ = transport;
    Process proc(shared_from_this());
    if (stdin_) proc.stdin_.emplace(transport_->get_pipe_transport(0), stdin_, std::nullopt);
    proc.stdout_ = readers_[1];
    proc.stderr_ = readers_[2];
    return proc;
  }
  SubprocessTransportImpl& transport() const noexcept { return *transport_; }

 private:
  std::optional<StreamReader> readers_[3];
  std::shared_ptr<StreamReaderProtocol> stdin_;
  // The transport holds this protocol until connection_lost() (or the
  // loop's close) lets go of it: the cycle CPython's make too.
  std::shared_ptr<SubprocessTransportImpl> transport_;
};

SpawnRequest spawn_request(std::string file, std::vector<std::string> args, const SubprocessOptions& options) {
  SpawnRequest r{std::move(file), std::move(args), {options.stdin_, options.stdout_, options.stderr_}, options.limit,
                 std::string(options.cwd), std::nullopt, options.start_new_session, options.pipesize};
  if (options.env.given()) r.env = options.env.to_vector();
  return r;
}

Coroutine<Process> create_subprocess(SpawnRequest request) {
  auto state = std::make_shared<ProcessState>(request);
  auto factory = [state] { return state; };
  auto [transport, protocol] = co_await subprocess(get_running_loop(), factory, std::move(request));
  co_return state->process(std::static_pointer_cast<SubprocessTransportImpl>(std::move(transport)));
}

namespace {

Coroutine<int> wait_process(std::shared_ptr<ProcessState> s) {
  Coroutine<int> exited = s->transport().wait();
  co_return co_await exited;
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
  Coroutine<std::optional<std::string>> out = read_stream(proc.stdout_, s->transport().get_pipe_transport(1));
  Coroutine<std::optional<std::string>> err = read_stream(proc.stderr_, s->transport().get_pipe_transport(2));
  auto [fed, out_data, err_data] = co_await gather(std::move(feed), std::move(out), std::move(err));
  (void)fed;
  Coroutine<int> exited = s->transport().wait();
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

int Process::pid() const { return state()->transport().get_pid(); }

std::optional<int> Process::returncode() const { return state()->transport().get_returncode(); }

Coroutine<int> Process::wait() const { return detail::wait_process(state()); }

Coroutine<std::pair<std::optional<std::string>, std::optional<std::string>>> Process::communicate(
    std::string_view input) const {
  return detail::communicate(state(), *this, std::string(input));
}

void Process::send_signal(int sig) const { state()->transport().send_signal(sig); }

void Process::terminate() const { send_signal(SIGTERM); }

void Process::kill() const { send_signal(SIGKILL); }

std::shared_ptr<Transport> Process::get_pipe_transport(int fd) const {
  return state()->transport().get_pipe_transport(fd);
}

}  // namespace asyncio
