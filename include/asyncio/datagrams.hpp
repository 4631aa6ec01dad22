// asyncio-cpp: SPDX-License-Identifier: MIT
// Awaitable datagram endpoints: open_datagram_endpoint() and DatagramStream,
// what streams.py is to create_connection() for UDP. Beyond CPython, whose
// users have asked for it since 2016 (the third-party asyncudp and
// asyncio-dgram packages fill the gap there).
#ifndef ASYNCIO_DATAGRAMS_HPP
#define ASYNCIO_DATAGRAMS_HPP

#include <asyncio/asyncgen.hpp>
#include <asyncio/base_events.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/transports.hpp>
#include <asyncio/trsock.hpp>

#include <any>
#include <coroutine>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace asyncio {

namespace detail {
class DatagramStreamState;
}

/// One received datagram and the address it came from.
using Datagram = std::pair<std::string, SocketAddress>;

namespace detail {

/// What DatagramStream's recvfrom() and sendto() return: an operation
/// awaitable once, with no coroutine frame while it need not wait (a
/// datagram is queued; the send buffer is below its high-water mark), else
/// awaiting the coroutine that waits. Converts to that coroutine (for
/// create_task(), gather()...). `T` is Datagram (recvfrom) or void (the
/// wait of a sendto). The stream must outlive the operation.
bool receive_ready(const DatagramStreamState* s) noexcept;
Datagram receive_now(DatagramStreamState* s);
/// The coroutine that waits; `keep`: it holds the endpoint's protocol (a
/// coroutine that may outlive the stream handle, for create_task()).
Coroutine<Datagram> receive_waiting(DatagramStreamState* s, bool keep);
bool send_ready(const DatagramStreamState* s) noexcept;
Coroutine<> send_waiting(DatagramStreamState* s, bool keep);

template <class T>
class [[nodiscard]] DatagramOp {
 public:
  using coroutine_type = Coroutine<T>;
  explicit DatagramOp(DatagramStreamState* s) noexcept : s_(s) {}
  DatagramOp(DatagramOp&& o) noexcept : s_(o.s_) {}
  DatagramOp& operator=(DatagramOp&&) = delete;

  bool await_ready() {
    if (std::exchange(started_, true)) throw_reused_coroutine();
    if constexpr (std::is_void_v<T>)
      return ready_ = send_ready(s_);
    else
      return ready_ = receive_ready(s_);
  }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> parent) {
    return wait_.suspend(waiting(false), parent);
  }
  T await_resume() {
    if constexpr (std::is_void_v<T>) {
      if (!ready_) wait_.resume();
    } else {
      return ready_ ? receive_now(s_) : wait_.resume();
    }
  }
  /// The operation as a coroutine (not yet awaited).
  operator Coroutine<T>() && { return waiting(true); }

 private:
  Coroutine<T> waiting(bool keep) const {
    if constexpr (std::is_void_v<T>)
      return send_waiting(s_, keep);
    else
      return receive_waiting(s_, keep);
  }
  DatagramStreamState* s_;
  AwaitedCoroutine<T> wait_;
  bool started_ = false;
  bool ready_ = false;
};

}  // namespace detail

/// A datagram endpoint read and written by coroutines: `co_await
/// recvfrom()` and `co_await sendto(...)`, over a DatagramTransport. A
/// copyable handle; the endpoint closes when the last handle goes (or at
/// close()).
class DatagramStream {
 public:
  /// The next datagram, in the order the socket received them, waiting for
  /// one if none is queued. A socket error the endpoint was told of (what
  /// error_received() gets, e.g. ConnectionRefusedError after an ICMP "port
  /// unreachable") is thrown, in its place in that order, by one
  /// recvfrom(); the endpoint stays usable. Once the endpoint is closed and
  /// nothing is queued: the error it was lost with, or std::system_error
  /// (std::errc::connection_reset) "Connection lost". One waiting coroutine
  /// at a time: a second gets RuntimeError("recvfrom() called while another
  /// coroutine is already waiting for incoming data"). Cancellable; a
  /// cancelled recvfrom() takes nothing from the queue. An operation
  /// (detail::DatagramOp) that converts to Coroutine<Datagram>.
  detail::DatagramOp<Datagram> recvfrom() const;
  /// Sends `data` as one datagram to `addr` at the call (as
  /// DatagramTransport::sendto, with its errors), then returns an operation
  /// that waits while the send buffer is over its high-water mark (≙
  /// StreamWriter.drain()); it converts to Coroutine<>. `data` may go away
  /// once the call returns.
  detail::DatagramOp<void> sendto(std::string_view data, const SocketAddress& addr) const;
  /// The same to the remote address of a connected endpoint.
  detail::DatagramOp<void> sendto(std::string_view data) const;
  /// Closes the endpoint (datagrams still queued stay readable).
  void close() const;
  /// Returns once the endpoint is closed (connection_lost() has run).
  Coroutine<> wait_closed() const;
  bool is_closing() const;
  /// As DatagramTransport::get_extra_info ("sockname", "peername", "socket").
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const;
  /// The transport underneath.
  const std::shared_ptr<DatagramTransport>& transport() const;

  /// Made by open_datagram_endpoint().
  explicit DatagramStream(std::shared_ptr<detail::DatagramStreamState> state) noexcept : s_(std::move(state)) {}

 private:
  std::shared_ptr<detail::DatagramStreamState> s_;
};

/// Opens a datagram endpoint as create_datagram_endpoint() does, with the
/// same options and errors, and gives it as a DatagramStream. At most
/// `options.limit` datagrams are queued unread; beyond that the endpoint
/// stops receiving until recvfrom() takes some (UDP drops what the kernel's
/// buffer cannot hold).
///
/// `auto stream = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 9999}});`
Coroutine<DatagramStream> open_datagram_endpoint(DatagramOptions options = {});

/// The datagrams `stream` receives (recvfrom() in a loop), until the
/// endpoint is closed by close() and the queue is drained; the error an
/// endpoint is lost with, and the socket errors recvfrom() reports, end it
/// by propagating. The generator holds a copy of the handle.
AsyncGenerator<Datagram> aiter(DatagramStream stream);

}  // namespace asyncio

#endif  // ASYNCIO_DATAGRAMS_HPP
