// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: what every socket and pipe transport shares. ≙
// selector_events._SelectorTransport (close, abort, _fatal_error,
// _force_close, _call_connection_lost, the cached extra info) with
// transports._FlowControlMixin (the write buffer's water marks).
#ifndef ASYNCIO_SRC_DETAIL_SOCKET_TRANSPORT_HPP
#define ASYNCIO_SRC_DETAIL_SOCKET_TRANSPORT_HPP

#include <asyncio/protocols.hpp>
#include <asyncio/trsock.hpp>

#include "report.hpp"
#include "uv_handle.hpp"

#include <any>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

namespace asyncio::detail {

/// A protocol that is itself the transport of another protocol (TLS's
/// SSLProtocol): told when the loop closes and drops it without
/// connection_lost(), so that it lets go of what it holds (its protocol
/// refers back to it).
class ProtocolLayer {
 public:
  virtual void drop_for_loop_shutdown() noexcept = 0;

 protected:
  ~ProtocolLayer() = default;
};

/// The state machine of a transport's end, shared by the stream, datagram
/// and pipe transports: closing (close() waits for the write buffer,
/// abort() and fatal errors do not), the one connection_lost() call, made
/// on a later pass, and write flow control (pause_writing() above the high
/// mark, resume_writing() at the low one).
///
/// Event bits: a subclass records what its libuv callbacks saw with
/// post(bits) and handles them in run(); the bits below `first_event` are
/// this base's.
class SocketTransportBase : public SharedUvHandle {
 public:
  bool closing() const noexcept { return closing_; }
  std::size_t buffered() const noexcept { return buffered_; }
  std::pair<std::size_t, std::size_t> write_buffer_limits() const noexcept { return {low_, high_}; }

  /// ≙ _FlowControlMixin._set_write_buffer_limits; throws
  /// std::invalid_argument("high (H) must be >= low (L) must be >= 0").
  void set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low);
  /// "peername", "sockname" (cached when connected, as CPython's _extra),
  /// "socket" (a TransportSocket of the fd while open).
  std::any extra_info(std::string_view name, std::any default_value) const;
  /// ≙ close(): stops reading; connection_lost() follows once the write
  /// buffer is empty.
  void close_transport();
  /// ≙ _force_close: drops the buffer, connection_lost(exc) on a later pass.
  void force_close(std::exception_ptr exc) noexcept;
  /// ≙ _fatal_error: reports `exc` unless it is an OSError, force-closes.
  void fatal_error(std::exception_ptr exc, const char* message) noexcept;
  /// A libuv status as _fatal_error of the OSError it stands for: the
  /// buffer is dropped and the transport force-closed. No user code.
  void fatal_status(int status) noexcept;

  void close_for_loop_shutdown() noexcept override;

 protected:
  enum : unsigned {
    ev_lost = 1,      ///< call connection_lost()
    ev_writable = 2,  ///< the write buffer drained (resume_writing, close)
    first_event = 4,
  };

  explicit SocketTransportBase(LoopCore* core) noexcept : SharedUvHandle(core) {}
  ~SocketTransportBase() = default;

  /// Records `ev` and queues the transport (once).
  void post(unsigned ev) noexcept {
    events_ |= ev;
    UvHandle::post();
  }
  /// Binds `protocol` and calls connection_made(); an exception goes to the
  /// exception handler, as CPython's call_soon does.
  template <class P, class T>
  void make_connection(std::shared_ptr<P> protocol, T& transport) {
    bind_protocol(std::move(protocol));
    try {
      static_cast<P&>(*protocol_).connection_made(transport);
    } catch (...) {
      report_callback_error(core(), std::current_exception());
    }
  }
  void bind_protocol(std::shared_ptr<BaseProtocol> protocol) noexcept {
    protocol_ = std::move(protocol);
    protocol_connected_ = static_cast<bool>(protocol_);
  }
  /// The end of a pass's processing: the buffer drained (ev_writable)
  /// and the connection_lost() that was due when the entry began.
  void finish_events(bool lost_due);
  /// ≙ _call_connection_lost: the protocol first, then the handle, then
  /// the subclass (connection_lost_done()).
  void call_connection_lost() noexcept;
  /// The protocol was never made (an accept whose factory failed).
  void lose_unmade() noexcept;
  void maybe_pause_protocol();
  void maybe_resume_protocol();
  void report(const char* message, std::exception_ptr exc) noexcept;

  /// Hooks. stop_reading(): no more reads (closing). drop_buffer(): the
  /// write buffer is discarded (buffered_ is reset here). connection_lost_done():
  /// after connection_lost(), e.g. leaving a server.
  virtual void stop_reading() noexcept = 0;
  virtual void drop_buffer() noexcept {}
  virtual void connection_lost_done() noexcept {}

  std::shared_ptr<BaseProtocol> protocol_;
  std::exception_ptr lost_exc_;
  SocketAddress peername_;
  SocketAddress sockname_;
  std::size_t buffered_ = 0;  ///< bytes not yet handed to the kernel
  std::size_t high_ = 64 * 1024;
  std::size_t low_ = 16 * 1024;
  unsigned events_ = 0;
  int lost_status_ = 0;  ///< a libuv error to turn into lost_exc_
  int conn_lost_ = 0;    ///< ≙ _conn_lost
  bool closing_ = false;
  bool protocol_paused_ = false;  ///< pause_writing() was called
  bool protocol_connected_ = false;

 private:
  void set_protocol_paused(bool paused);
};

/// The public interface `I` (Transport, DatagramTransport, ...) answered by
/// the shared state: what every transport says the same way is written
/// here once. `P` is the protocol type the interface takes.
template <class I, class P>
class TransportOf : public I, public SocketTransportBase {
 public:
  std::any get_extra_info(std::string_view name, std::any default_value) const override {
    return extra_info(name, std::move(default_value));
  }
  bool is_closing() const override { return closing_; }
  void close() override { close_transport(); }
  void abort() override { force_close(nullptr); }
  void set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) override {
    SocketTransportBase::set_write_buffer_limits(high, low);
  }
  std::size_t get_write_buffer_size() const override { return buffered_; }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override { return write_buffer_limits(); }
  void set_protocol(std::shared_ptr<P> protocol) override { bind_protocol(std::move(protocol)); }
  std::shared_ptr<P> get_protocol() const override { return std::static_pointer_cast<P>(protocol_); }

 protected:
  explicit TransportOf(LoopCore* core) noexcept : SocketTransportBase(core) {}
  ~TransportOf() = default;
  /// The protocol as its own type (bound only through set_protocol or
  /// make_connection with a `P`).
  P& protocol() const noexcept { return static_cast<P&>(*protocol_); }
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_SOCKET_TRANSPORT_HPP
