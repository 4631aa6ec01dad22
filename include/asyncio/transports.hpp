// asyncio-cpp: SPDX-License-Identifier: MIT
// Transports: the connection side that protocols write to.
// ≙ Lib/asyncio/transports.py
#ifndef ASYNCIO_TRANSPORTS_HPP
#define ASYNCIO_TRANSPORTS_HPP

#include <asyncio/protocols.hpp>
#include <asyncio/trsock.hpp>

#include <any>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

/// What every transport has (≙ asyncio.BaseTransport).
///
/// Transports are used from the loop's thread only. Errors follow CPython:
/// socket errors never throw from write() (they close the transport, and
/// the protocol's connection_lost() receives a std::system_error); misuse
/// throws (RuntimeError, std::invalid_argument).
class BaseTransport {
 public:
  BaseTransport() = default;
  BaseTransport(const BaseTransport&) = delete;
  BaseTransport& operator=(const BaseTransport&) = delete;
  virtual ~BaseTransport() = default;

  /// Optional information about the transport, by name (≙ get_extra_info).
  /// A stream transport knows "peername" and "sockname" (SocketAddress)
  /// and "socket" (TransportSocket). Unknown names give `default_value`;
  /// read a value with `std::any_cast<SocketAddress>(...)`.
  virtual std::any get_extra_info(std::string_view name, std::any default_value = {}) const = 0;
  /// True once the transport is closing or closed.
  virtual bool is_closing() const = 0;
  /// Closes the transport. Buffered data is flushed asynchronously; no
  /// more data is received. Once the buffer is flushed, the protocol's
  /// connection_lost() is called with a null exception, on a later pass.
  /// Idempotent.
  virtual void close() = 0;
};

/// A bidirectional stream transport (≙ asyncio.Transport, which is both a
/// ReadTransport and a WriteTransport), such as a TCP or Unix connection.
///
/// Owned by std::shared_ptr: create_connection() returns one, and the
/// transport keeps itself alive while its connection is open, so the
/// reference given to Protocol::connection_made() stays valid at least
/// until connection_lost() has returned (`shared_from_this()` extends it).
class Transport : public BaseTransport, public std::enable_shared_from_this<Transport> {
 public:
  // ---- ReadTransport -------------------------------------------------

  /// True while the transport is receiving (not paused, not closing).
  virtual bool is_reading() const = 0;
  /// Stops calling data_received() until resume_reading(). No-op when
  /// paused or closing.
  virtual void pause_reading() = 0;
  /// Starts calling data_received() again. No-op when not paused.
  virtual void resume_reading() = 0;

  // ---- WriteTransport ------------------------------------------------

  /// Sets the write buffer's high- and low-water marks for flow control:
  /// pause_writing() is called when the buffer goes over `high`,
  /// resume_writing() when it drains to `low`. Defaults as in CPython:
  /// high = 64 KiB (4 × low if only low is given), low = high / 4.
  /// Throws std::invalid_argument("high (H) must be >= low (L) must be >= 0").
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
  /// Bytes buffered, not yet handed to the kernel.
  virtual std::size_t get_write_buffer_size() const = 0;
  /// `(low, high)`, as CPython's get_write_buffer_limits().
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const = 0;
  /// Writes `data` without blocking: what the kernel does not take at once
  /// is copied to the write buffer and sent as the socket drains. Ignored
  /// once the connection is lost. Throws RuntimeError("Cannot call write()
  /// after write_eof()").
  virtual void write(std::string_view data) = 0;
  /// Writes several buffers at once (one vectored system call).
  virtual void writelines(std::span<const std::string_view> list) = 0;
  void writelines(std::initializer_list<std::string_view> list) {
    writelines(std::span<const std::string_view>(list.begin(), list.size()));
  }
  /// Any range of strings or string views.
  template <std::ranges::input_range R>
    requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view> &&
             (!std::is_convertible_v<const R&, std::span<const std::string_view>>)
  void writelines(const R& list) {
    std::vector<std::string_view> views;
    for (auto&& s : list) views.emplace_back(s);
    writelines(std::span<const std::string_view>(views));
  }
  /// Closes the write end after the buffered data is flushed (half-close).
  /// Data may still be received. No-op when closing or already done.
  virtual void write_eof() = 0;
  /// True if write_eof() is supported (always, for TCP and Unix sockets).
  virtual bool can_write_eof() const = 0;
  /// Closes the transport at once: buffered data is lost. The protocol's
  /// connection_lost() is called with a null exception on a later pass.
  virtual void abort() = 0;

  /// Replaces the protocol that receives the callbacks.
  virtual void set_protocol(std::shared_ptr<Protocol> protocol) = 0;
  /// The protocol; null once connection_lost() has been called.
  virtual std::shared_ptr<Protocol> get_protocol() const = 0;
};

/// A datagram endpoint (≙ asyncio.DatagramTransport), as
/// create_datagram_endpoint() returns. Owned by std::shared_ptr like
/// Transport; it keeps itself alive while open.
class DatagramTransport : public BaseTransport, public std::enable_shared_from_this<DatagramTransport> {
 public:
  /// Sends `data` as one datagram to `addr` (a numeric address of the
  /// socket's family) without blocking: what the kernel cannot take at
  /// once is buffered and sent in order as the socket drains. On a
  /// connected endpoint (remote_addr given) `addr` must be the remote
  /// address: std::invalid_argument("Invalid address: must be None or
  /// ('127.0.0.1', 9999)"). A socket error goes to the protocol's
  /// error_received(); sends after the endpoint is lost are dropped.
  virtual void sendto(std::string_view data, const SocketAddress& addr) = 0;
  /// Sends to the remote address of a connected endpoint (`addr=None`).
  virtual void sendto(std::string_view data) = 0;
  /// Closes at once: buffered datagrams are lost; connection_lost() with a
  /// null exception follows on a later pass.
  virtual void abort() = 0;
  /// Bytes buffered, not yet handed to the kernel (8 bytes of header
  /// counted per datagram, as CPython).
  virtual std::size_t get_write_buffer_size() const = 0;
  /// The water marks of the send buffer, as Transport's.
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const = 0;
  /// Replaces the protocol that receives the callbacks.
  virtual void set_protocol(std::shared_ptr<DatagramProtocol> protocol) = 0;
  /// The protocol; null once connection_lost() has been called.
  virtual std::shared_ptr<DatagramProtocol> get_protocol() const = 0;
};

/// The transport of a child process (≙ asyncio.SubprocessTransport), made
/// by subprocess_exec() / subprocess_shell(). Owned by std::shared_ptr;
/// it keeps itself alive while the child runs or a pipe is open.
class SubprocessTransport : public BaseTransport, public std::enable_shared_from_this<SubprocessTransport> {
 public:
  /// The child's process id.
  virtual int get_pid() const = 0;
  /// Empty while the child runs (≙ None); its exit status once the loop has
  /// seen it exit, minus the signal number that killed it.
  virtual std::optional<int> get_returncode() const = 0;
  /// The transport of the child's stdin (0), stdout (1) or stderr (2) pipe;
  /// null if that stream is not a pipe.
  virtual std::shared_ptr<Transport> get_pipe_transport(int fd) const = 0;
  /// Sends `sig` to the child. std::system_error(std::errc::no_such_process)
  /// (≙ ProcessLookupError) once its exit has been collected.
  virtual void send_signal(int sig) = 0;
  /// send_signal(SIGTERM).
  virtual void terminate() = 0;
  /// send_signal(SIGKILL).
  virtual void kill() = 0;
  /// Replaces the protocol that receives the callbacks.
  virtual void set_protocol(std::shared_ptr<SubprocessProtocol> protocol) = 0;
  /// The protocol; null once connection_lost() has been called.
  virtual std::shared_ptr<SubprocessProtocol> get_protocol() const = 0;
  /// Closes the pipes and, if the child is still running, kills it
  /// (SIGKILL), as CPython's close() does.
  void close() override = 0;
};

}  // namespace asyncio

#endif  // ASYNCIO_TRANSPORTS_HPP
