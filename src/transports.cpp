// asyncio-cpp: SPDX-License-Identifier: MIT
// The libuv stream transport. ≙ selector_events._SelectorSocketTransport
// (write buffer, flow control, the order of the protocol callbacks) mapped
// onto libuv streams as uvloop maps them.
#include "detail/stream_transport.hpp"

#include <asyncio/exceptions.hpp>

#include "detail/report.hpp"
#include "detail/sockaddr.hpp"
#include "detail/uv_error.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace asyncio::detail {

namespace {

// Each connection reads into one buffer of this size, reused: no allocation
// per read (BASELINES.md §2: asyncio's fresh 256 KiB buffer per recv costs
// three system calls per message). libuv's echo floor uses the same size.
constexpr std::size_t read_buffer_size = 64 * 1024;
// Reading stops while less than this is free, until the protocol has taken
// what is buffered: libuv would otherwise go on reading in tiny pieces.
constexpr std::size_t min_read_space = 4 * 1024;
// A single uv_try_write takes an unsigned length.
constexpr std::size_t max_try_write = std::size_t{1} << 30;

// Writing to a socket whose peer has gone raises SIGPIPE, which kills the
// process by default. Python ignores SIGPIPE at start-up so that the write
// fails with EPIPE (BrokenPipeError) instead; do the same, once, unless the
// program installed a handler of its own.
void ignore_sigpipe() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
  });
}

}  // namespace

std::shared_ptr<StreamTransport> StreamTransport::make(EventLoop& loop, Kind kind) {
  ignore_sigpipe();
  auto t = std::make_shared<StreamTransport>(Tag{}, loop, kind);
  t->hold_self(t);
  return t;
}

StreamTransport::StreamTransport(Tag, EventLoop& loop, Kind kind) : TransportOf(&loop.core()), kind_(kind) {
  uv_loop_t* uv = uv_loop_of(loop);
  int rc = kind == Kind::tcp ? uv_tcp_init(uv, &h_.tcp) : uv_pipe_init(uv, &h_.pipe, 0);
  if (rc < 0) throw_os_error(rc);
  bind_handle(&h_.handle);
  write_req_.data = shutdown_req_.data = connect_req_.data = this;
}

StreamTransport::~StreamTransport() {
  // Only reached once the handle is closed (it held itself until then).
  if (server_) server_->detach(this);
  std::free(rbuf_);
}

StreamTransport* StreamTransport::from(uv_handle_t* h) noexcept { return static_cast<StreamTransport*>(of(h)); }

// ---- connecting ------------------------------------------------------------

int StreamTransport::connect(const sockaddr* addr, Future<int> done) {
  connect_done_ = std::move(done);
  int rc = uv_tcp_connect(&connect_req_, &h_.tcp, addr, &StreamTransport::on_connect);
  if (rc < 0) connect_done_ = {};
  return rc;
}

void StreamTransport::on_connect(uv_connect_t* req, int status) noexcept {
  auto* t = static_cast<StreamTransport*>(req->data);
  // Completing the future only schedules its waiter; a cancelled
  // create_connection has already cancelled it (and closes the handle).
  Future<int> done = std::move(t->connect_done_);
  if (done && !done.done()) done.set_result(status);
}

void StreamTransport::start(std::shared_ptr<Protocol> protocol) {
  if (kind_ == Kind::tcp) uv_tcp_nodelay(&h_.tcp, 1);  // as CPython's socket transports do
  cache_addresses();
  make_connection(std::move(protocol), static_cast<Transport&>(*this));
  note_protocol();
  update_reading();
}

void StreamTransport::accepted(std::shared_ptr<ServerState> server) noexcept {
  server_ = std::move(server);
  server_->attach(this);
  post(ev_made);
}

std::shared_ptr<Protocol> make_protocol(const ProtocolFactory& factory) {
  std::shared_ptr<Protocol> protocol = factory();
  if (!protocol) throw std::invalid_argument("the protocol factory returned no protocol");
  return protocol;
}

std::shared_ptr<Transport> connect_protocol(const std::shared_ptr<StreamTransport>& t,
                                            std::shared_ptr<Protocol> protocol) {
  t->start(std::move(protocol));
  return t;
}

void StreamTransport::make_protocol() {
  std::shared_ptr<Protocol> protocol;
  try {
    protocol = detail::make_protocol(server_->factory);
  } catch (...) {
    // ≙ BaseSelectorEventLoop._accept_connection2
    report("Error on transport creation for incoming connection", std::current_exception());
    return lose_unmade();
  }
  connect_protocol(std::static_pointer_cast<StreamTransport>(shared_from_this()), std::move(protocol));
}

void StreamTransport::cache_addresses() noexcept {
  // Taken once, as CPython's _extra: still there after the close. A pipe
  // transport has "pipe" instead (test_read_pty_output).
  if (read_pipe_ || write_pipe_) return;
  try {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (kind_ == Kind::tcp) {
      if (uv_tcp_getpeername(&h_.tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        peername_ = to_socket_address(reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len));
      len = sizeof ss;
      if (uv_tcp_getsockname(&h_.tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        sockname_ = to_socket_address(reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len));
    } else {
      // libuv 1.44 reads path[0] when the socket has no name (a socket
      // pair, a pipe) without writing it first.
      char path[4096] = {};
      std::size_t n = sizeof path;
      peername_.family = sockname_.family = AF_UNIX;
      if (uv_pipe_getpeername(&h_.pipe, path, &n) == 0) peername_.host.assign(path, n);
      n = sizeof path;
      path[0] = '\0';
      if (uv_pipe_getsockname(&h_.pipe, path, &n) == 0) sockname_.host.assign(path, n);
    }
  } catch (...) {
  }
}

void StreamTransport::set_protocol(std::shared_ptr<Protocol> protocol) {
  // Bytes already read into the old protocol's buffer go to the new one
  // (deliver_span), so the lender stays alive until then; a buffer lent
  // but still empty is simply given back (libuv writes only while polling).
  // Only the first switch of a pass records the lender: a second one must
  // not let it go while its buffer still holds the bytes.
  if (into_span_ && rlen_) {
    if (!old_lender_) old_lender_ = protocol_;
  } else if (into_span_) {
    into_span_ = false;
    span_ = {};
  }
  bind_protocol(std::move(protocol));
  note_protocol();
  update_reading();
}

void StreamTransport::note_protocol() noexcept { buffered_protocol_ = dynamic_cast<BufferedProtocol*>(protocol_.get()); }

bool StreamTransport::lend_buffer() noexcept {
  // ≙ _read_ready__get_buffer's get_buffer(-1), asked before the read
  // rather than at it, so that libuv reads into the span and the protocol
  // is called only during a pass.
  if (!buffered_protocol_ || into_span_ || rlen_ || closing_ || paused_ || !protocol_connected_) return true;
  try {
    std::span<char> buf = buffered_protocol_->get_buffer(-1);
    if (buf.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
    span_ = buf;
    into_span_ = true;
    return true;
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: protocol.get_buffer() call failed.");
    return false;
  }
}

// ---- the ready-queue side ----------------------------------------------------

void StreamTransport::run(bool discard) noexcept {
  if (events_ == ev_data && !discard && !closing_ && !paused_) [[likely]] {
    // The common case, kept short: data to hand over, nothing else.
    events_ = 0;
    return deliver_data();
  }
  if (discard) {
    events_ = 0;
    return;
  }
  try {
    process();
  } catch (...) {
    report_callback_error(core(), std::current_exception());
  }
}

void StreamTransport::process() {
  // connection_lost() is due only if it was posted before this entry ran.
  // One posted by what runs below (a read error after the data, a protocol
  // that aborts) re-queues the transport, so that it comes after the
  // wake-ups data_received() queued: the woken read runs first and sees the
  // data, as after CPython's call_soon(_call_connection_lost)
  // (PartialRecordReset tests).
  const bool lost_due = events_ & ev_lost;
  events_ &= ~ev_lost;
  if (events_ & ev_made) {
    events_ &= ~ev_made;
    make_protocol();
  }
  if (closing_) {
    // ≙ close() removing the reader: nothing more is delivered.
    events_ &= ~(ev_data | ev_eof | ev_read_error);
  } else if (!paused_) {
    deliver_reads();
  }
  if (events_ & ev_shutdown_error) {
    events_ &= ~ev_shutdown_error;
    if (!conn_lost_) fatal_status(shutdown_status_);
  }
  finish_events(lost_due);
}

void StreamTransport::deliver_data() noexcept {
  if (into_span_) return deliver_span();
  if (!rlen_) return;
  // The buffer stays valid during the call: libuv writes to it only while
  // polling, never during a pass.
  std::string_view data(rbuf_, rlen_);
  rlen_ = 0;
  try {
    protocol().data_received(data);
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: protocol.data_received() call failed.");
    return;
  }
  if (read_full_) {
    read_full_ = false;
    update_reading();
  }
}

void StreamTransport::deliver_span() noexcept {
  if (!rlen_) return;
  const std::size_t n = std::exchange(rlen_, 0);
  const std::span<char> span = std::exchange(span_, {});
  into_span_ = false;
  // The lender is the bound protocol unless set_protocol() changed it.
  const std::shared_ptr<BaseProtocol> lender = std::move(old_lender_);
  const bool own = !lender || lender == protocol_;
  try {
    if (own)
      buffered_protocol_->buffer_updated(n);
    else
      protocol().data_received(std::string_view(span.data(), n));
  } catch (...) {
    fatal_error(std::current_exception(), own ? "Fatal error: protocol.buffer_updated() call failed."
                                              : "Fatal error: protocol.data_received() call failed.");
    return;
  }
  read_full_ = false;
  // The next buffer now, before libuv reads again.
  if (lend_buffer()) update_reading();
}

void StreamTransport::deliver_reads() {
  if (events_ & ev_data) {
    events_ &= ~ev_data;
    deliver_data();
  }
  // Paused or closed by data_received(): EOF waits for resume_reading().
  if (closing_ || paused_) return;
  if (events_ & ev_eof) {
    events_ &= ~ev_eof;
    bool keep_open = false;
    try {
      keep_open = protocol().eof_received();
    } catch (...) {
      fatal_error(std::current_exception(), "Fatal error: protocol.eof_received() call failed.");
      return;
    }
    // A read pipe ends at EOF whatever the protocol says (≙
    // _UnixReadPipeTransport._read_ready).
    if (!keep_open || read_pipe_) close();
  } else if (events_ & ev_read_error) {
    events_ &= ~ev_read_error;
    fatal_error(make_os_error(read_status_), "Fatal read error on socket transport");
  }
}

void StreamTransport::connection_lost_done() noexcept {
  if (empty_waiter_ && !empty_waiter_.done()) empty_waiter_.set_exception(lost_exc_ ? lost_exc_ : connection_lost_error());
  // The server last: its wait_closed() may be waiting for this connection.
  reading_ = false;
  if (server_) {
    std::shared_ptr<ServerState> server = std::move(server_);
    server->detach(this);
  }
}

void StreamTransport::discard() noexcept {
  closing_ = true;
  if (!conn_lost_) ++conn_lost_;
  connect_done_ = {};
  reading_ = false;
  close_handle();
}

// ---- reading ---------------------------------------------------------------

void StreamTransport::update_reading() noexcept {
  if (handle_closing()) {
    reading_ = false;
    return;
  }
  bool want = protocol_connected_ && !closing_ && !paused_ && !read_full_ && !read_done_ && !write_pipe_;
  if (want && buffered_protocol_ && !into_span_ && !rlen_) want = lend_buffer();
  if (want && !reading_) {
    const int rc = uv_read_start(&h_.stream, &StreamTransport::on_alloc, &StreamTransport::on_read);
    reading_ = rc == 0;
    if (rc < 0) {
      // Not reading would leave the protocol waiting for ever: a read
      // error, as if the first read had failed.
      read_done_ = true;
      read_status_ = rc;
      post(ev_read_error);
    }
  } else if (!want && reading_) {
    uv_read_stop(&h_.stream);
    reading_ = false;
  }
}

void StreamTransport::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  StreamTransport* t = from(h);
  if (t->into_span_) {
    buf->base = t->span_.data() + t->rlen_;
    buf->len = t->span_.size() - t->rlen_;
    return;
  }
  if (!t->rbuf_) t->rbuf_ = static_cast<char*>(std::malloc(read_buffer_size));
  if (!t->rbuf_) {
    buf->base = nullptr;  // libuv reports UV_ENOBUFS
    buf->len = 0;
    return;
  }
  buf->base = t->rbuf_ + t->rlen_;
  buf->len = read_buffer_size - t->rlen_;
}

void StreamTransport::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) noexcept {
  StreamTransport* t = from(reinterpret_cast<uv_handle_t*>(s));
  if (nread > 0) {
    t->rlen_ += static_cast<std::size_t>(nread);
    if (t->into_span_ ? t->rlen_ == t->span_.size() : read_buffer_size - t->rlen_ < min_read_space) {
      t->read_full_ = true;
      t->update_reading();
    }
    t->post(ev_data);
  } else if (nread < 0) {
    // EOF or an error: libuv has stopped reading (except for UV_ENOBUFS).
    uv_read_stop(s);
    t->reading_ = false;
    t->read_done_ = true;
    // libuv reports EOF on POLLHUP after a short read without reading on,
    // so a connection reset by the peer can arrive as EOF: one more recv()
    // tells them apart (CPython's recv() sees the reset).
    const int status = nread == UV_EOF ? t->pending_socket_error() : static_cast<int>(nread);
    if (status == UV_EOF) {
      t->post(ev_eof);
    } else {
      t->read_status_ = status;
      t->post(ev_read_error);
    }
  }
  // nread == 0: EAGAIN, nothing happened.
}

int StreamTransport::pending_socket_error() noexcept {
  // Asks the kernel what recv() says now, without taking data: 0 after the
  // peer's FIN (an EOF, even if a reset followed, as recv() reports it),
  // the error of a reset that came instead.
  uv_os_fd_t fd = -1;
  char byte;
  if (uv_fileno(&h_.handle, &fd) != 0) return UV_EOF;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTSOCK && errno != EINTR) return -errno;
  return UV_EOF;
}

std::any StreamTransport::get_extra_info(std::string_view name, std::any default_value) const {
  if (name != "pipe" || !(read_pipe_ || write_pipe_)) return TransportOf::get_extra_info(name, std::move(default_value));
  uv_os_fd_t fd = -1;
  if (!handle_closing()) uv_fileno(handle(), &fd);
  return fd >= 0 ? std::any(int{fd}) : default_value;
}

void StreamTransport::pause_reading() {
  if (closing_ || paused_) return;
  paused_ = true;
  update_reading();
}

void StreamTransport::resume_reading() {
  if (closing_ || !paused_) return;
  paused_ = false;
  update_reading();
  // What arrived before the pause and was held back.
  if (events_ & (ev_data | ev_eof | ev_read_error)) post(0);
}

// ---- writing ---------------------------------------------------------------

Future<> StreamTransport::make_empty_waiter() {
  if (empty_waiter_) throw RuntimeError("Empty waiter is already set");
  empty_waiter_ = core()->owner->create_future();
  if (buffered_ == 0) empty_waiter_.set_result();
  return empty_waiter_;
}

void StreamTransport::reset_empty_waiter() noexcept { empty_waiter_ = Future<>(); }

int StreamTransport::fileno() const noexcept {
  uv_os_fd_t fd = -1;
  if (!handle_closing()) uv_fileno(handle(), &fd);
  return fd;
}

void StreamTransport::write(std::string_view data) {
  // The common case, kept short: nothing buffered, and the kernel takes all
  // of it at once, without a copy.
  if (buffered_ == 0 && !eof_ && !conn_lost_ && !read_pipe_ && !empty_waiter_ && data.size() - 1 < max_try_write) {
    uv_buf_t buf;
    buf.base = const_cast<char*>(data.data());
    buf.len = data.size();
    const int rc = uv_try_write(&h_.stream, &buf, 1);
    if (rc >= 0 && static_cast<std::size_t>(rc) == data.size()) return;
    return write_rest(std::span<const std::string_view>(&data, 1), rc);
  }
  writelines(std::span<const std::string_view>(&data, 1));
}

void StreamTransport::writelines(std::span<const std::string_view> list) {
  if (read_pipe_) throw RuntimeError("write() on the read end of a pipe");
  if (eof_) throw RuntimeError("Cannot call write() after write_eof()");
  if (empty_waiter_) throw RuntimeError("unable to write; sendfile is in progress");
  std::size_t total = 0;
  for (std::string_view s : list) total += s.size();
  if (total == 0) return;
  if (conn_lost_) {
    // ≙ CPython: writes after the connection is lost are dropped (it logs a
    // warning after a few).
    ++conn_lost_;
    return;
  }
  int rc = 0;
  if (buffered_ == 0 && total <= max_try_write) {
    // One vectored write; most complete here, at once and without a copy.
    uv_buf_t bufs[16];
    unsigned n = 0;
    for (std::string_view s : list) {
      if (s.empty()) continue;
      if (n == std::size(bufs)) break;
      bufs[n].base = const_cast<char*>(s.data());
      bufs[n].len = s.size();
      ++n;
    }
    rc = uv_try_write(&h_.stream, bufs, n);
    if (rc >= 0 && static_cast<std::size_t>(rc) == total) return;
  }
  write_rest(list, rc);
}

void StreamTransport::write_rest(std::span<const std::string_view> parts, int rc) {
  if (rc == UV_EAGAIN || rc == UV_ENOSYS) {
    rc = 0;
  } else if (rc < 0) {
    fatal_status(rc);  // ≙ _fatal_error(exc, 'Fatal write error on socket transport')
    return;
  }
  buffer_rest(parts, static_cast<std::size_t>(rc));
  if (!writing_) flush();
  maybe_pause_protocol();
}

void StreamTransport::buffer_rest(std::span<const std::string_view> parts, std::size_t written) {
  for (std::string_view s : parts) {
    if (written >= s.size()) {
      written -= s.size();
      continue;
    }
    s.remove_prefix(written);
    written = 0;
    pending_.append(s);
    buffered_ += s.size();
  }
}

void StreamTransport::flush() noexcept {
  // Double buffering: the strings keep their capacity, so a connection
  // that keeps writing does not allocate once the buffers have grown.
  std::swap(inflight_, pending_);
  pending_.clear();
  uv_buf_t buf;
  buf.base = inflight_.data();
  buf.len = inflight_.size();
  int rc = uv_write(&write_req_, &h_.stream, &buf, 1, &StreamTransport::on_write);
  if (rc < 0) return fatal_status(rc);
  writing_ = true;
}

void StreamTransport::on_write(uv_write_t* req, int status) noexcept {
  auto* t = static_cast<StreamTransport*>(req->data);
  t->writing_ = false;
  if (status == UV_ECANCELED || t->conn_lost_) return;  // closed or aborted meanwhile
  if (status < 0) return t->fatal_status(status);
  t->buffered_ -= t->inflight_.size();
  t->inflight_.clear();
  if (!t->pending_.empty()) t->flush();
  if (t->buffered_ == 0 && t->eof_) t->shutdown();
  if (t->buffered_ == 0 && t->empty_waiter_ && !t->empty_waiter_.done()) t->empty_waiter_.set_result();
  if ((t->protocol_paused_ && t->buffered_ <= t->low_) || (t->closing_ && t->buffered_ == 0)) t->post(ev_writable);
}

void StreamTransport::write_eof() {
  if (closing_ || eof_) return;
  // A pipe has no half-close: its end is the close (≙ _UnixWritePipeTransport).
  if (write_pipe_) return close();
  eof_ = true;
  if (buffered_ == 0) shutdown();
}

void StreamTransport::shutdown() noexcept {
  if (shutdown_sent_ || handle_closing()) return;
  shutdown_sent_ = true;
  if (int rc = uv_shutdown(&shutdown_req_, &h_.stream, &StreamTransport::on_shutdown); rc < 0) shutdown_failed(rc);
}

void StreamTransport::on_shutdown(uv_shutdown_t* req, int status) noexcept {
  if (status < 0 && status != UV_ECANCELED) static_cast<StreamTransport*>(req->data)->shutdown_failed(status);
}

void StreamTransport::shutdown_failed(int status) noexcept {
  // ≙ the shutdown(SHUT_WR) of _write_ready failing: a fatal write error,
  // handled after the reads of the same pass, so that the reset that made
  // it fail (ENOTCONN) reaches the protocol as itself.
  shutdown_status_ = status;
  post(ev_shutdown_error);
}

}  // namespace asyncio::detail
