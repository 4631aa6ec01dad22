// asyncio-cpp: SPDX-License-Identifier: MIT
// Protocols: the callbacks a transport makes. ≙ Lib/asyncio/protocols.py
#ifndef ASYNCIO_PROTOCOLS_HPP
#define ASYNCIO_PROTOCOLS_HPP

#include <exception>
#include <string_view>

namespace asyncio {

class Transport;
class DatagramTransport;
struct SocketAddress;

/// Common base of the protocols (≙ asyncio.BaseProtocol). Every method does
/// nothing by default.
///
/// The loop calls a protocol only from its own thread, during a loop pass
/// (never from inside an I/O callback), in CPython's order: connection_made
/// first, then the data callbacks, connection_lost last. An exception thrown
/// by a callback goes to the loop's exception handler (and, for
/// data_received and eof_received, also closes the transport, as CPython's
/// transports do).
class BaseProtocol {
 public:
  BaseProtocol() = default;
  BaseProtocol(const BaseProtocol&) = default;
  BaseProtocol& operator=(const BaseProtocol&) = default;
  virtual ~BaseProtocol() = default;

  /// The connection is lost or closed. `exc` is null for a regular EOF or
  /// close(), else the error (std::system_error for socket errors). The
  /// transport lets go of the protocol after this call.
  virtual void connection_lost(std::exception_ptr exc) { (void)exc; }
  /// The transport's write buffer went over the high-water mark. Called
  /// once; resume_writing() follows when it drains to the low-water mark.
  virtual void pause_writing() {}
  /// The transport's write buffer drained to the low-water mark.
  virtual void resume_writing() {}
};

/// A stream protocol (≙ asyncio.Protocol), for TCP and Unix connections.
class Protocol : public BaseProtocol {
 public:
  /// The connection is made. `transport` stays valid at least until
  /// connection_lost() has returned; to keep it longer hold
  /// `transport.shared_from_this()`.
  virtual void connection_made(Transport& transport) { (void)transport; }
  /// Some data arrived. `data` is the transport's read buffer: valid only
  /// during the call, so copy what must outlive it. The bytes of a stream
  /// can arrive split or joined in any way.
  virtual void data_received(std::string_view data) { (void)data; }
  /// The peer sent EOF (it will write no more). Return false (the default)
  /// to have the transport close itself, true to keep it open for writing
  /// (half-close); connection_lost() follows in either case, eventually.
  virtual bool eof_received() { return false; }
};

/// A datagram protocol (≙ asyncio.DatagramProtocol), for UDP and Unix
/// datagram endpoints (create_datagram_endpoint()).
class DatagramProtocol : public BaseProtocol {
 public:
  /// The endpoint is ready. `transport` stays valid at least until
  /// connection_lost() has returned; `transport.shared_from_this()` keeps it.
  virtual void connection_made(DatagramTransport& transport) { (void)transport; }
  /// One datagram arrived from `addr`. `data` is valid only during the
  /// call. Datagrams are delivered whole, one call each, in the order the
  /// socket received them.
  virtual void datagram_received(std::string_view data, const SocketAddress& addr) {
    (void)data;
    (void)addr;
  }
  /// A send or receive failed with a socket error (std::system_error), such
  /// as ConnectionRefusedError after an ICMP "port unreachable". The
  /// endpoint stays open.
  virtual void error_received(std::exception_ptr exc) { (void)exc; }
};

}  // namespace asyncio

#endif  // ASYNCIO_PROTOCOLS_HPP
