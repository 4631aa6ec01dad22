// asyncio-cpp: SPDX-License-Identifier: MIT
// Awaitable datagram endpoints: open_datagram_endpoint() and DatagramStream,
// what streams.py is to create_connection() for UDP. Beyond CPython, whose
// users have asked for it since 2016 (the third-party asyncudp and
// asyncio-dgram packages fill the gap there).
#ifndef ASYNCIO_DATAGRAMS_HPP
#define ASYNCIO_DATAGRAMS_HPP

#include <asyncio/base_events.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/transports.hpp>
#include <asyncio/trsock.hpp>

#include <any>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace asyncio {

namespace detail {
class DatagramStreamState;
}

/// One received datagram and the address it came from.
using Datagram = std::pair<std::string, SocketAddress>;

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
  /// cancelled recvfrom() takes nothing from the queue.
  Coroutine<Datagram> recvfrom() const;
  /// Sends `data` as one datagram to `addr` at the call (as
  /// DatagramTransport::sendto, with its errors), then returns a coroutine
  /// that waits while the send buffer is over its high-water mark (≙
  /// StreamWriter.drain()). `data` may go away once the call returns.
  Coroutine<> sendto(std::string_view data, const SocketAddress& addr) const;
  /// The same to the remote address of a connected endpoint.
  Coroutine<> sendto(std::string_view data) const;
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

}  // namespace asyncio

#endif  // ASYNCIO_DATAGRAMS_HPP
