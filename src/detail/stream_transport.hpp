// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the libuv stream transport (TCP and Unix sockets) and the server
// state it attaches to. ≙ selector_events._SelectorSocketTransport and
// base_events.Server; uvloop's UVStream/TCPTransport did the same mapping
// onto libuv.
#ifndef ASYNCIO_SRC_DETAIL_STREAM_TRANSPORT_HPP
#define ASYNCIO_SRC_DETAIL_STREAM_TRANSPORT_HPP

#include <asyncio/base_events.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/transports.hpp>

#include "socket_transport.hpp"
#include "uv_loop.hpp"

#include <uv.h>

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace asyncio::detail {

class ServerState;

/// A connected (or connecting) TCP or Unix stream, or one end of a pipe.
/// ≙ _SelectorSocketTransport (and _UnixReadPipeTransport /
/// _UnixWritePipeTransport for pipes).
///
/// Threading of work (design rule): the libuv callbacks below only record
/// what happened (bytes read into the reused buffer, EOF, an error, a write
/// completion) in `events_` and queue the transport itself on the ready
/// queue; run() then makes the protocol callbacks during a loop pass, in
/// CPython's order.
///
/// Lifetime: the transport holds itself from creation until its handle's
/// close callback has run and it is no longer queued (SharedUvHandle);
/// users and streams hold it by shared_ptr beyond that. The protocol is
/// held until connection_lost() has been called (or the loop closes the
/// handle).
class StreamTransport final : public TransportOf<Transport, Protocol> {
  struct Tag {};

 public:
  enum class Kind : std::uint8_t { tcp, pipe };

  /// A transport with an initialised, unconnected handle of `loop`.
  static std::shared_ptr<StreamTransport> make(EventLoop& loop, Kind kind);
  StreamTransport(Tag, EventLoop& loop, Kind kind);
  ~StreamTransport();

  uv_stream_t* stream() noexcept { return &h_.stream; }
  uv_tcp_t* tcp() noexcept { return &h_.tcp; }
  Kind kind() const noexcept { return kind_; }

  /// Starts connecting; the future gets the libuv status (0 on success).
  /// Returns a status < 0 when the connect could not even start.
  int connect(const sockaddr* addr, Future<int> done);
  /// Adopts the connected socket (or, Kind::pipe, the pipe) `fd`:
  /// ownership passes on success. Returns the libuv status.
  int open(int fd) noexcept { return kind_ == Kind::tcp ? uv_tcp_open(&h_.tcp, fd) : uv_pipe_open(&h_.pipe, fd); }
  /// The write end of a pipe (no reading; write_eof() closes it).
  void set_write_pipe() noexcept { write_pipe_ = true; }
  /// The read end of a pipe (writing is refused).
  void set_read_pipe() noexcept { read_pipe_ = true; }
  /// Once connected: sets the protocol, calls connection_made() now (an
  /// exception goes to the exception handler, as CPython's call_soon
  /// does), starts reading. Called only by connect_protocol().
  void start(std::shared_ptr<Protocol> protocol);
  /// Server side, just accepted: attached to `server`; the protocol is
  /// made and connection_made() called on the next pass.
  void accepted(std::shared_ptr<ServerState> server) noexcept;
  /// Closes a handle that never got a protocol (a failed connect or
  /// accept, a cancelled create_connection).
  void discard() noexcept;

  // Transport
  /// Adds "pipe" (the descriptor, an int) for a pipe transport (≙ the pipe
  /// object of _UnixReadPipeTransport / _UnixWritePipeTransport).
  std::any get_extra_info(std::string_view name, std::any default_value) const override;
  bool is_reading() const override { return !paused_ && !closing_; }
  void pause_reading() override;
  void resume_reading() override;
  void write(std::string_view data) override;
  void writelines(std::span<const std::string_view> list) override;
  void write_eof() override;
  bool can_write_eof() const override { return !read_pipe_; }
  void set_protocol(std::shared_ptr<Protocol> protocol) override;

  /// loop.sendfile() (src/sendfile.cpp). ≙ _make_empty_waiter: from now
  /// on write() refuses ("unable to write; sendfile is in progress"); the
  /// future completes once the write buffer is empty (failed if the
  /// connection is lost first). RuntimeError("Empty waiter is already
  /// set") during another sendfile.
  Future<> make_empty_waiter();
  /// ≙ _reset_empty_waiter: writing is allowed again.
  void reset_empty_waiter() noexcept;
  /// A connected socket (not a pipe end): sendfile(2) may write to it.
  bool is_socket() const noexcept { return !write_pipe_ && !read_pipe_; }
  /// The descriptor, -1 once closing.
  int fileno() const noexcept;
  /// ≙ _protocol_paused (for the fallback's flow control).
  bool protocol_paused() const noexcept { return protocol_paused_; }

  /// The server's intrusive list of the connections it accepted.
  StreamTransport* prev_client = nullptr;
  StreamTransport* next_client = nullptr;

 private:
  enum : unsigned {
    ev_made = first_event,         ///< accepted: make the protocol, connection_made
    ev_data = first_event << 1,    ///< bytes in the read buffer
    ev_eof = first_event << 2,     ///< the peer sent EOF
    ev_read_error = first_event << 3,      ///< reading failed (read_status_)
    ev_shutdown_error = first_event << 4,  ///< write_eof()'s shutdown failed (shutdown_status_)
  };

  static StreamTransport* from(uv_handle_t* h) noexcept;
  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept;
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) noexcept;
  static void on_write(uv_write_t* req, int status) noexcept;
  static void on_shutdown(uv_shutdown_t* req, int status) noexcept;
  static void on_connect(uv_connect_t* req, int status) noexcept;

  // SocketTransportBase
  void run(bool discard) noexcept override;
  void stop_reading() noexcept override { update_reading(); }
  void drop_buffer() noexcept override { pending_.clear(); }
  void connection_lost_done() noexcept override;

  /// At libuv's EOF: what recv() reports now, as a libuv status (the
  /// error of a reset libuv took for EOF), or UV_EOF.
  int pending_socket_error() noexcept;
  void process();
  void make_protocol();
  void deliver_reads();
  /// Hands the read buffer to data_received().
  void deliver_data() noexcept;
  /// The bytes read into a lent buffer, to whoever is the protocol now.
  void deliver_span() noexcept;
  /// Records what kind of protocol is bound (after start / set_protocol).
  void note_protocol() noexcept;
  /// Asks a BufferedProtocol for the next buffer if reads are wanted and
  /// none is lent. False when get_buffer() failed (the transport closes).
  bool lend_buffer() noexcept;
  void update_reading() noexcept;
  void flush() noexcept;
  void shutdown() noexcept;
  void shutdown_failed(int status) noexcept;
  /// After uv_try_write returned `rc` for `parts`: buffers what it left
  /// (or fails the transport on an error).
  void write_rest(std::span<const std::string_view> parts, int rc);
  /// Appends `parts` minus their first `written` bytes to the buffer.
  void buffer_rest(std::span<const std::string_view> parts, std::size_t written);
  void cache_addresses() noexcept;

  union Handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h_;
  uv_write_t write_req_;
  uv_shutdown_t shutdown_req_;
  uv_connect_t connect_req_;

  std::shared_ptr<ServerState> server_;
  Future<int> connect_done_;

  char* rbuf_ = nullptr;     // the reused read buffer, allocated on first read
  std::size_t rlen_ = 0;     // bytes in it (or in span_) not yet delivered
  // A BufferedProtocol's lent buffer (design-notes, "BufferedProtocol"):
  // while into_span_, libuv reads into span_, lent by the bound protocol,
  // or by old_lender_ once set_protocol() replaced it with bytes pending.
  BufferedProtocol* buffered_protocol_ = nullptr;  // the protocol, when it is one
  std::span<char> span_;
  std::shared_ptr<BaseProtocol> old_lender_;
  std::string inflight_;     // what the pending uv_write sends
  std::string pending_;      // written while that uv_write is in flight
  Future<> empty_waiter_;    // set while loop.sendfile() runs (make_empty_waiter)

  int read_status_ = 0;
  int shutdown_status_ = 0;
  Kind kind_;
  bool reading_ = false;          // uv_read_start is in effect
  bool read_full_ = false;        // stopped: the read buffer is full
  bool into_span_ = false;        // reads go into span_, not rbuf_
  bool read_done_ = false;        // EOF or error seen: libuv stopped reading
  bool paused_ = false;           // pause_reading()
  bool eof_ = false;              // write_eof() called
  bool shutdown_sent_ = false;
  bool writing_ = false;          // a uv_write is in flight
  bool write_pipe_ = false;
  bool read_pipe_ = false;
};

/// The one place where a connected stream gets its protocol (≙
/// _make_socket_transport / _create_connection_transport): client
/// connections, accepted ones, adopted sockets and subprocess pipes all
/// come through here, so that a layer between the socket and the protocol
/// (TLS) is added in one place. connection_made() has run when it returns;
/// the result is the transport the protocol was given.
std::shared_ptr<Transport> connect_protocol(const std::shared_ptr<StreamTransport>& t,
                                            std::shared_ptr<Protocol> protocol);

/// `factory()`, refused when it gives no protocol.
std::shared_ptr<Protocol> make_protocol(const ProtocolFactory& factory);

/// What a Server handle refers to (≙ base_events.Server's state).
class ServerState : public std::enable_shared_from_this<ServerState> {
 public:
  class Listener;

  ServerState(EventLoop& loop, ProtocolFactory factory, int backlog);
  ~ServerState();

  LoopCore* core;
  ProtocolFactory factory;
  int backlog;
  std::vector<Listener*> listeners;  // empty once closed (≙ _sockets is None)
  bool closed = false;
  bool serving = false;
  Future<> serving_forever;
  std::vector<Future<>> waiters;
  bool woken = false;  // ≙ _waiters is None
  StreamTransport* clients = nullptr;
  std::size_t client_count = 0;
  /// Set: each accepted socket is given to it (which then owns it) instead
  /// of becoming a transport of this loop: the acceptor mode of
  /// start_acceptor_server() (multicore.cpp). Called in the poll callback:
  /// library code only, never throws.
  std::function<void(int fd)> hand_off;

  /// Opens a listening TCP socket bound to `addr` (≙ the socket part of
  /// create_server). False when the address cannot be used here (no
  /// socket of its family, or EADDRNOTAVAIL: the family is not enabled,
  /// bpo-30945), as CPython skips it; throws OSError for any other error.
  bool add_tcp_listener(const sockaddr* addr, socklen_t len, const ServerOptions& options);
  /// The same for a Unix socket at `path`.
  void add_unix_listener(const std::string& path, const ServerOptions& options);
  void start_serving();
  void close() noexcept;
  void attach(StreamTransport* t) noexcept;
  void detach(StreamTransport* t) noexcept;
  void wakeup() noexcept;
  std::string repr() const;
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_STREAM_TRANSPORT_HPP
