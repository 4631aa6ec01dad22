// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the transport of a child process over uv_spawn.
// ≙ base_subprocess.BaseSubprocessTransport with unix_events'
// _UnixSubprocessTransport; its pipes are stream transports whose
// protocols (≙ ReadSubprocessPipeProto / WriteSubprocessPipeProto) forward
// to the SubprocessProtocol.
#ifndef ASYNCIO_SRC_DETAIL_BASE_SUBPROCESS_HPP
#define ASYNCIO_SRC_DETAIL_BASE_SUBPROCESS_HPP

#include <asyncio/detail/waiters.hpp>
#include <asyncio/subprocess.hpp>
#include <asyncio/transports.hpp>

#include "stream_transport.hpp"
#include "uv_handle.hpp"

#include <uv.h>

#include <memory>
#include <optional>

namespace asyncio::detail {

/// The child, its libuv handle and its pipes.
///
/// The exit callback only records the status and queues the transport on
/// the ready queue; the return code, process_exited() and the waiters
/// follow during a loop pass. Lifetime: the transport holds itself while
/// its handle is open, and each pipe's protocol holds it while the pipe is
/// open, so a child nobody refers to any more is still collected.
class SubprocessTransportImpl final : public SubprocessTransport, public SharedUvHandle {
  struct Tag {};

 public:
  SubprocessTransportImpl(Tag, EventLoop& loop) : SharedUvHandle(&loop.core()) {}

  /// Starts the child, connects its pipes and calls connection_made().
  /// Throws the spawn error (nothing is left behind then).
  static std::shared_ptr<SubprocessTransportImpl> spawn(EventLoop& loop, const SpawnRequest& request,
                                                        std::shared_ptr<SubprocessProtocol> protocol);

  /// Waits for the exit (≙ _wait); returns the return code.
  Coroutine<int> wait();
  /// A pipe's protocol saw its pipe closed (≙ _pipe_connection_lost).
  void pipe_connection_lost(int fd, std::exception_ptr exc) noexcept;
  SubprocessProtocol* protocol() const noexcept { return protocol_.get(); }

  // SubprocessTransport
  int get_pid() const override { return pid_; }
  std::optional<int> get_returncode() const override { return returncode_; }
  std::shared_ptr<Transport> get_pipe_transport(int fd) const override;
  void send_signal(int sig) override;
  void terminate() override;
  void kill() override;
  void set_protocol(std::shared_ptr<SubprocessProtocol> protocol) override { protocol_ = std::move(protocol); }
  std::shared_ptr<SubprocessProtocol> get_protocol() const override { return protocol_; }
  std::any get_extra_info(std::string_view name, std::any default_value) const override;
  bool is_closing() const override { return closing_; }
  void close() override;

 private:
  static void on_exit(uv_process_t* h, std::int64_t exit_status, int term_signal) noexcept;
  /// ≙ _process_exited: the return code, process_exited(), the waiters.
  void run(bool discard) noexcept override;
  void close_for_loop_shutdown() noexcept override;
  /// Closes the stdin pipe if its reader is gone.
  void close_orphaned_stdin() noexcept;
  /// ≙ _try_finish: connection_lost() once the child has exited and every
  /// pipe is closed, on a later pass.
  void try_finish() noexcept;

  uv_process_t h_{};
  std::shared_ptr<StreamTransport> pipes_[3];
  bool pipe_open_[3] = {false, false, false};
  std::shared_ptr<SubprocessProtocol> protocol_;
  WaiterList exit_waiters_;
  std::optional<int> returncode_;
  int pid_ = 0;
  int status_ = 0;
  bool exited_ = false;    // libuv collected the status
  bool closing_ = false;   // close() was called
  bool finished_ = false;  // connection_lost() is due or done
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_BASE_SUBPROCESS_HPP
