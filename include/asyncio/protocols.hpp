// asyncio-cpp: SPDX-License-Identifier: MIT
// Protocols: the callbacks a transport makes. ≙ Lib/asyncio/protocols.py
#ifndef ASYNCIO_PROTOCOLS_HPP
#define ASYNCIO_PROTOCOLS_HPP

#include <cstddef>
#include <exception>
#include <span>
#include <string_view>

namespace asyncio {

class Transport;
class DatagramTransport;
class SubprocessTransport;
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

/// A stream protocol that lends the transport its own buffer to read into
/// (≙ asyncio.BufferedProtocol): no copy between the socket and the
/// protocol. Give it to any call that takes a Protocol factory.
///
/// The transport asks get_buffer() for a buffer before it reads, libuv reads
/// straight into it, and buffer_updated() tells how many bytes arrived.
/// Contract: the span returned must stay valid and untouched until the
/// matching buffer_updated() or connection_lost(); the transport asks for
/// the next buffer only after buffer_updated() has returned. An exception
/// from get_buffer() (or an empty span) or from buffer_updated() closes the
/// transport with CPython's "Fatal error: protocol.get_buffer() call
/// failed." / "...buffer_updated() call failed.".
///
/// A transport that has only data_received() (after set_protocol(), a
/// subprocess pipe) feeds the bytes through get_buffer()/buffer_updated()
/// in as many pieces as the buffers take (≙
/// protocols._feed_data_to_buffered_proto). Departure: CPython's
/// BufferedProtocol is not a Protocol; here it is one, so that the
/// factories and transports take both.
class BufferedProtocol : public Protocol {
 public:
  /// A buffer to read into. `sizehint` is the size the transport would
  /// like, -1 for "any" (what the stream transports pass, as CPython's).
  virtual std::span<char> get_buffer(std::ptrdiff_t sizehint) = 0;
  /// `nbytes` bytes were written at the start of the last get_buffer() span.
  virtual void buffer_updated(std::size_t nbytes) = 0;
  /// Feeds `data` through get_buffer() / buffer_updated().
  void data_received(std::string_view data) final;
};

/// A datagram protocol (≙ asyncio.DatagramProtocol), for UDP and Unix
/// datagram endpoints (create_datagram_endpoint()).
class DatagramProtocol : public BaseProtocol {
 public:
  /// The endpoint is ready. `transport` stays valid at least until
  /// connection_lost() has returned; `transport.shared_from_this()` keeps it.
  virtual void connection_made(DatagramTransport& transport) { (void)transport; }
  /// One datagram arrived from `addr`. `data` and `addr` are valid only
  /// during the call (copy what must outlive it); giving `addr` back to
  /// sendto() there is the fastest reply. Datagrams are delivered whole,
  /// one call each, in the order the socket received them.
  virtual void datagram_received(std::string_view data, const SocketAddress& addr) {
    (void)data;
    (void)addr;
  }
  /// A send or receive failed with a socket error (std::system_error), such
  /// as ConnectionRefusedError after an ICMP "port unreachable". The
  /// endpoint stays open.
  virtual void error_received(std::exception_ptr exc) { (void)exc; }
};

/// The protocol of a child process made by subprocess_exec() /
/// subprocess_shell() (≙ asyncio.SubprocessProtocol). `fd` is the child's
/// stream: 0 stdin, 1 stdout, 2 stderr.
///
/// Order (CPython's): connection_made(); then, as they happen,
/// pipe_data_received(), pipe_connection_lost() once per pipe and
/// process_exited() once; connection_lost(null) last, once the child has
/// exited and every pipe is closed. pause_writing() / resume_writing()
/// are the stdin pipe's.
class SubprocessProtocol : public BaseProtocol {
 public:
  /// The child is running and its pipes are connected.
  virtual void connection_made(SubprocessTransport& transport) { (void)transport; }
  /// The child wrote `data` to its stdout (fd 1) or stderr (fd 2); valid
  /// only during the call. An exception closes that pipe, as a
  /// data_received() exception closes a stream.
  virtual void pipe_data_received(int fd, std::string_view data) {
    (void)fd;
    (void)data;
  }
  /// Pipe `fd` is closed: null at EOF (or once stdin was closed), else the
  /// error.
  virtual void pipe_connection_lost(int fd, std::exception_ptr exc) {
    (void)fd;
    (void)exc;
  }
  /// The child has exited: its return code is the transport's now.
  virtual void process_exited() {}
};

}  // namespace asyncio

#endif  // ASYNCIO_PROTOCOLS_HPP
