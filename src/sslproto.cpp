// asyncio-cpp: SPDX-License-Identifier: MIT
// The TLS layer. ≙ Lib/asyncio/sslproto.py (3.13): the same state machine
// (UNWRAPPED -> DO_HANDSHAKE -> WRAPPED -> FLUSHING -> SHUTDOWN ->
// UNWRAPPED), the same flow control both ways, timeouts and messages.
// Departures (docs/design-notes.md, "TLS"): one object is both the raw
// side's protocol and the application's transport; OpenSSL reads the raw
// transport's buffer in place through a BIO of our own instead of a copy
// into a MemoryBIO, and writes its records to one string handed to the raw
// transport in one write() per operation.
#include "detail/sslproto.hpp"

#include <asyncio/exceptions.hpp>

#include "detail/report.hpp"
#include "detail/ssl_state.hpp"
#include "detail/stream_transport.hpp"
#include "detail/uv_error.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace asyncio::detail {

namespace {

// The first buffer lent to the raw transport (as the plain transport's
// read buffer); it grows while OpenSSL has not taken what it holds.
constexpr std::size_t first_buffer = 64 * 1024;
// A buffer is lent only with at least this much free.
constexpr std::size_t min_free = 16 * 1024 + 512;
// The scratch buffer SSL_read decrypts into for data_received().
constexpr std::size_t scratch_size = 64 * 1024;

// ---- the BIO: OpenSSL's view of SSLProtocol's buffers --------------------------

SSLProtocol* protocol_of(BIO* b) noexcept { return static_cast<SSLProtocol*>(BIO_get_data(b)); }

int bio_write(BIO* b, const char* data, std::size_t len, std::size_t* written) noexcept {
  BIO_clear_retry_flags(b);
  SSLProtocol* p = protocol_of(b);
  if (!p) return 0;
  try {
    p->bio_write(data, len);
  } catch (...) {
    return 0;  // out of memory: OpenSSL reports the failure
  }
  *written = len;
  return 1;
}

int bio_read(BIO* b, char* out, std::size_t len, std::size_t* readbytes) noexcept {
  BIO_clear_retry_flags(b);
  SSLProtocol* p = protocol_of(b);
  const std::size_t n = p ? p->bio_read(out, len) : 0;
  if (n == 0) {
    // ≙ a MemoryBIO without EOF: always "want more" (EOF is eof_received()).
    BIO_set_retry_read(b);
    *readbytes = 0;
    return 0;
  }
  *readbytes = n;
  return 1;
}

long bio_ctrl(BIO*, int cmd, long, void*) noexcept { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* b) noexcept {
  BIO_set_init(b, 1);
  return 1;
}

BIO_METHOD* bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "asyncio transport");
    BIO_meth_set_write_ex(m, &bio_write);
    BIO_meth_set_read_ex(m, &bio_read);
    BIO_meth_set_ctrl(m, &bio_ctrl);
    BIO_meth_set_create(m, &bio_create);
    return m;
  }();
  return method;
}

/// Python's repr() of a float: the shortest text that reads back the same.
std::string float_repr(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (std::isfinite(v) && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

const char* state_name(SSLProtocol::State s) {
  switch (s) {
    case SSLProtocol::State::UNWRAPPED: return "SSLProtocolState.UNWRAPPED";
    case SSLProtocol::State::DO_HANDSHAKE: return "SSLProtocolState.DO_HANDSHAKE";
    case SSLProtocol::State::WRAPPED: return "SSLProtocolState.WRAPPED";
    case SSLProtocol::State::FLUSHING: return "SSLProtocolState.FLUSHING";
    case SSLProtocol::State::SHUTDOWN: return "SSLProtocolState.SHUTDOWN";
  }
  return "?";
}

/// ≙ the raw transport's _force_close(exc).
void force_close_raw(Transport& t, std::exception_ptr exc) noexcept {
  if (auto* s = dynamic_cast<StreamTransport*>(&t)) return s->force_close(std::move(exc));
  if (auto* p = dynamic_cast<SSLProtocol*>(&t)) return p->force_close(std::move(exc));
  try {
    t.abort();
  } catch (...) {
  }
}

/// The thread's scratch buffer for decrypted bytes; a nested user (a TLS
/// connection read from inside another's data_received) gets its own.
struct Scratch {
  std::unique_ptr<char[]> buf;
  bool busy = false;
};
thread_local Scratch scratch;

/// Empties the thread's OpenSSL error queue at the entry of an operation, so
/// that SSL_get_error() after a failed call is right. ERR_clear_error() wipes
/// all 16 slots whether used or not (about 840 instructions, twice per echoed
/// message: callgrind, docs/performance.md "TLS echo (issue 13)"); the queue
/// is nearly always empty, which ERR_peek_error() tells for a fraction of that.
void clear_error_queue() noexcept {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

bool want_more(int err) noexcept {
  // ≙ SSLAgainErrors (SSLWantReadError, SSLSyscallError), and WANT_WRITE,
  // which this BIO never gives. A "syscall" error may leave entries in the
  // error queue: cleared, so that the queue stays empty (do_read()).
  if (err == SSL_ERROR_SYSCALL) ERR_clear_error();
  return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_SYSCALL;
}

bool is_verification_error(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const ssl::SSLCertVerificationError&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

// ---- construction --------------------------------------------------------------

SSLProtocol::SSLProtocol(EventLoop& loop, std::shared_ptr<Protocol> app, TlsParams params, Future<> waiter,
                         bool call_connection_made)
    : loop_(&loop),
      params_(std::move(params)),
      waiter_(std::move(waiter)),
      app_state_(call_connection_made ? AppState::INIT : AppState::CON_MADE) {
  set_app_protocol(std::move(app));
  // ≙ `server_hostname if server_hostname and not server_side else None`.
  std::optional<std::string> hostname;
  if (!params_.server_side && params_.server_hostname && !params_.server_hostname->empty())
    hostname = params_.server_hostname;
  conn_ = std::make_shared<ssl::detail::ConnectionState>(params_.context, params_.server_side, std::move(hostname));
  BIO* bio = BIO_new(bio_method());
  if (!bio) throw std::bad_alloc();
  BIO_set_data(bio, this);
  SSL_set_bio(conn_->ssl, bio, bio);  // one reference serves both directions
}

SSLProtocol::~SSLProtocol() {
  // An SSLObject may outlive the connection: its BIO must not reach us.
  if (BIO* bio = SSL_get_rbio(conn_->ssl)) BIO_set_data(bio, nullptr);
  cancel_timers();
}

void SSLProtocol::cancel_timers() noexcept {
  handshake_timer_.cancel();
  shutdown_timer_.cancel();
}

std::function<void()> SSLProtocol::if_alive(void (SSLProtocol::*step)()) {
  return [self = weak_from_this(), step] {
    if (auto p = self.lock()) (static_cast<SSLProtocol&>(*p).*step)();
  };
}

void SSLProtocol::set_app_protocol(std::shared_ptr<Protocol> p) noexcept {
  app_ = std::move(p);
  app_buffered_ = dynamic_cast<BufferedProtocol*>(app_.get());
}

void SSLProtocol::set_protocol(std::shared_ptr<Protocol> protocol) { set_app_protocol(std::move(protocol)); }

void SSLProtocol::wakeup_waiter(std::exception_ptr exc) noexcept {
  Future<> w = std::exchange(waiter_, Future<>{});
  if (!w || w.done()) return;
  try {
    if (exc)
      w.set_exception(std::move(exc));
    else
      w.set_result();
  } catch (...) {
  }
}

std::size_t SSLProtocol::bio_read(char* out, std::size_t len) noexcept {
  const std::size_t n = std::min(len, in_end_ - in_pos_);
  if (n == 0) return 0;
  std::memcpy(out, in_.get() + in_pos_, n);
  in_pos_ += n;
  return n;
}

void SSLProtocol::bio_write(const char* data, std::size_t len) { out_.append(data, len); }

void SSLProtocol::set_state(State s) {
  bool allowed = s == State::UNWRAPPED;
  allowed = allowed || (state_ == State::UNWRAPPED && s == State::DO_HANDSHAKE);
  allowed = allowed || (state_ == State::DO_HANDSHAKE && s == State::WRAPPED);
  allowed = allowed || (state_ == State::WRAPPED && s == State::FLUSHING);
  allowed = allowed || (state_ == State::FLUSHING && s == State::SHUTDOWN);
  if (!allowed)
    throw RuntimeError(std::string("cannot switch state from ") + state_name(state_) + " to " + state_name(s));
  state_ = s;
}

// ---- the raw side ----------------------------------------------------------------

void SSLProtocol::connection_made(Transport& transport) {
  transport_ = transport.shared_from_this();
  start_handshake();
}

void SSLProtocol::connection_lost(std::exception_ptr exc) {
  backlog_.clear();
  backlog_size_ = 0;
  out_.clear();
  ++conn_lost_;
  app_closed_ = true;
  if (state_ != State::DO_HANDSHAKE && (app_state_ == AppState::CON_MADE || app_state_ == AppState::EOF_SEEN)) {
    app_state_ = AppState::CON_LOST;
    // ≙ call_soon(self._app_protocol.connection_lost, exc); the transport
    // stays alive until then.
    loop().call_soon([app = app_, exc, keep = shared_from_this()] { app->connection_lost(exc); });
  }
  state_ = State::UNWRAPPED;
  transport_.reset();
  app_.reset();
  app_buffered_ = nullptr;
  wakeup_waiter(exc);
  cancel_timers();
}

void SSLProtocol::drop_for_loop_shutdown() noexcept {
  state_ = State::UNWRAPPED;
  app_closed_ = true;
  cancel_timers();
  std::shared_ptr<Protocol> app = std::move(app_);
  app_buffered_ = nullptr;
  std::shared_ptr<Transport> raw = std::move(transport_);
  if (auto* layer = dynamic_cast<ProtocolLayer*>(app.get())) layer->drop_for_loop_shutdown();
}

std::span<char> SSLProtocol::get_buffer(std::ptrdiff_t) {
  // What OpenSSL has not taken yet moves to the front (a partial record,
  // mostly), or the buffer grows when it is that full.
  if (in_pos_ == in_end_) {
    in_pos_ = in_end_ = 0;
  } else if (in_pos_ > 0 && in_cap_ - in_end_ < min_free) {
    std::memmove(in_.get(), in_.get() + in_pos_, in_end_ - in_pos_);
    in_end_ -= in_pos_;
    in_pos_ = 0;
  }
  if (in_cap_ - in_end_ < min_free) {
    const std::size_t cap = in_cap_ ? in_cap_ * 2 : first_buffer;
    auto bigger = std::make_unique<char[]>(cap);
    if (in_end_ > in_pos_) std::memcpy(bigger.get(), in_.get() + in_pos_, in_end_ - in_pos_);
    in_ = std::move(bigger);
    in_end_ -= in_pos_;
    in_pos_ = 0;
    in_cap_ = cap;
  }
  return {in_.get() + in_end_, in_cap_ - in_end_};
}

void SSLProtocol::buffer_updated(std::size_t nbytes) {
  in_end_ += nbytes;
  switch (state_) {
    case State::DO_HANDSHAKE: return do_handshake();
    case State::WRAPPED: return do_read();
    case State::FLUSHING: return do_flush();
    case State::SHUTDOWN: return do_shutdown();
    case State::UNWRAPPED: return;
  }
}

bool SSLProtocol::eof_received() {
  eof_received_ = true;
  clear_error_queue();  // as in do_read()
  try {
    switch (state_) {
      case State::DO_HANDSHAKE:
        on_handshake_complete(
            std::make_exception_ptr(OSError(std::make_error_code(std::errc::connection_reset), "")));
        break;
      case State::WRAPPED:
        set_state(State::FLUSHING);
        if (app_reading_paused_) return true;
        do_flush();
        break;
      case State::FLUSHING:
        do_write();
        set_state(State::SHUTDOWN);
        do_shutdown();
        break;
      case State::SHUTDOWN:
        do_shutdown();
        break;
      case State::UNWRAPPED:
        break;
    }
  } catch (...) {
    if (transport_) transport_->close();
    throw;
  }
  return false;
}

void SSLProtocol::pause_writing() { ssl_writing_paused_ = true; }

void SSLProtocol::resume_writing() {
  ssl_writing_paused_ = false;
  process_outgoing();
}

// ---- handshake -------------------------------------------------------------------

void SSLProtocol::start_handshake() {
  set_state(State::DO_HANDSHAKE);
  handshake_timer_ = loop().call_later(params_.handshake_timeout, if_alive(&SSLProtocol::check_handshake_timeout));
  do_handshake();
}

void SSLProtocol::check_handshake_timeout() {
  if (state_ != State::DO_HANDSHAKE) return;
  const std::string msg = "SSL handshake is taking longer than " + float_repr(params_.handshake_timeout) +
                          " seconds: aborting the connection";
  fatal_error(std::make_exception_ptr(OSError(std::make_error_code(std::errc::connection_aborted), msg)));
}

void SSLProtocol::do_handshake() {
  SSL* ssl = conn_->ssl;
  clear_error_queue();
  const int rc = SSL_do_handshake(ssl);
  if (rc == 1) return on_handshake_complete(nullptr);
  const int err = SSL_get_error(ssl, rc);
  if (want_more(err)) {
    ERR_clear_error();
    return process_outgoing();
  }
  std::exception_ptr exc = conn_->callback_error ? std::exchange(conn_->callback_error, nullptr)
                                                 : ssl::detail::make_ssl_error(ssl, err);
  // The alert OpenSSL wrote tells the peer why (CPython drops it).
  process_outgoing();
  on_handshake_complete(std::move(exc));
}

void SSLProtocol::on_handshake_complete(std::exception_ptr exc) {
  handshake_timer_.cancel();
  try {
    if (exc) std::rethrow_exception(exc);
    set_state(State::WRAPPED);
  } catch (...) {
    std::exception_ptr e = std::current_exception();
    set_state(State::UNWRAPPED);
    fatal_error(e, is_verification_error(e) ? "SSL handshake failed on verifying the certificate"
                                            : "SSL handshake failed");
    wakeup_waiter(e);
    return;
  }
  extra_ready_ = true;
  if (app_state_ == AppState::INIT) {
    app_state_ = AppState::CON_MADE;
    app_->connection_made(*this);
  }
  wakeup_waiter();
  do_read();
}

// ---- shutdown --------------------------------------------------------------------

void SSLProtocol::close() {
  if (app_closed_) return;
  app_closed_ = true;
  start_shutdown();
}

void SSLProtocol::start_shutdown() {
  if (state_ == State::FLUSHING || state_ == State::SHUTDOWN || state_ == State::UNWRAPPED) return;
  app_closed_ = true;
  if (state_ == State::DO_HANDSHAKE) return abort_raw(nullptr);
  set_state(State::FLUSHING);
  shutdown_timer_ = loop().call_later(params_.shutdown_timeout, if_alive(&SSLProtocol::check_shutdown_timeout));
  do_flush();
}

void SSLProtocol::check_shutdown_timeout() {
  if ((state_ == State::FLUSHING || state_ == State::SHUTDOWN) && transport_)
    force_close_raw(*transport_, std::make_exception_ptr(TimeoutError("SSL shutdown timed out")));
}

void SSLProtocol::do_flush() {
  do_read();
  set_state(State::SHUTDOWN);
  do_shutdown();
}

void SSLProtocol::do_shutdown() {
  if (!eof_received_) {
    SSL* ssl = conn_->ssl;
    clear_error_queue();
    // ≙ _ssl.c SSLSocket.shutdown: a second call once close_notify is sent
    // looks for the peer's.
    int rc = SSL_shutdown(ssl);
    if (rc == 0) rc = SSL_shutdown(ssl);
    if (rc < 0) {
      const int err = SSL_get_error(ssl, rc);
      if (want_more(err)) {
        ERR_clear_error();
        return process_outgoing();
      }
      return on_shutdown_complete(ssl::detail::make_ssl_error(ssl, err));
    }
  }
  process_outgoing();
  call_eof_received();
  on_shutdown_complete(nullptr);
}

void SSLProtocol::on_shutdown_complete(std::exception_ptr exc) {
  shutdown_timer_.cancel();
  if (exc) return fatal_error(std::move(exc));
  if (transport_) loop().call_soon([t = transport_] { t->close(); });
}

void SSLProtocol::abort_raw(std::exception_ptr exc) noexcept {
  state_ = State::UNWRAPPED;
  if (transport_) force_close_raw(*transport_, std::move(exc));
}

void SSLProtocol::force_close(std::exception_ptr exc) noexcept {
  app_closed_ = true;
  abort_raw(std::move(exc));
}

// ---- outgoing --------------------------------------------------------------------

void SSLProtocol::write(std::string_view data) {
  if (data.empty()) return;
  write_appdata(std::span<const std::string_view>(&data, 1));
}

void SSLProtocol::writelines(std::span<const std::string_view> list) { write_appdata(list); }

void SSLProtocol::write_eof() {
  // CPython raises a bare NotImplementedError, which is a RuntimeError:
  // TLS 1.2 has no half-close (can_write_eof() is false).
  throw RuntimeError("write_eof() is not supported by TLS transports");
}

void SSLProtocol::write_appdata(std::span<const std::string_view> list) {
  if (state_ == State::FLUSHING || state_ == State::SHUTDOWN || state_ == State::UNWRAPPED) {
    ++conn_lost_;  // ≙ CPython (it logs "SSL connection is closed" after a few)
    return;
  }
  clear_error_queue();  // as in do_read()
  try {
    if (state_ == State::WRAPPED && backlog_.empty()) {
      // The common case: encrypted at once, without a copy into the backlog.
      SSL* ssl = conn_->ssl;
      for (std::size_t i = 0; i < list.size(); ++i) {
        std::string_view data = list[i];
        while (!data.empty()) {
          std::size_t n = 0;
          if (SSL_write_ex(ssl, data.data(), data.size(), &n) != 1) {
            const int err = SSL_get_error(ssl, 0);
            if (!want_more(err)) std::rethrow_exception(ssl::detail::make_ssl_error(ssl, err));
            // OpenSSL waits for the peer (a key update): the rest waits too.
            for (std::size_t k = i; k < list.size(); ++k) {
              std::string_view rest = k == i ? data : list[k];
              if (rest.empty()) continue;
              backlog_.emplace_back(rest);
              backlog_size_ += rest.size();
            }
            return process_outgoing();
          }
          data.remove_prefix(n);
        }
      }
      return process_outgoing();
    }
    for (std::string_view data : list) {
      if (data.empty()) continue;
      backlog_.emplace_back(data);
      backlog_size_ += data.size();
    }
    if (state_ == State::WRAPPED) do_write();
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error on SSL protocol");
  }
}

void SSLProtocol::do_write() {
  SSL* ssl = conn_->ssl;
  while (!backlog_.empty()) {
    std::string& data = backlog_.front();
    std::size_t n = 0;
    if (SSL_write_ex(ssl, data.data(), data.size(), &n) != 1) {
      const int err = SSL_get_error(ssl, 0);
      if (!want_more(err)) std::rethrow_exception(ssl::detail::make_ssl_error(ssl, err));
      break;
    }
    backlog_size_ -= n;
    if (n < data.size())
      data.erase(0, n);
    else
      backlog_.pop_front();
  }
  process_outgoing();
}

void SSLProtocol::process_outgoing() {
  if (!ssl_writing_paused_ && !out_.empty() && transport_) {
    transport_->write(out_);
    out_.clear();
  }
  control_app_writing();
}

void SSLProtocol::control_app_writing() {
  const std::size_t size = get_write_buffer_size();
  if (size >= out_high_ && !app_writing_paused_) {
    app_writing_paused_ = true;
    call_app(&BaseProtocol::pause_writing, "protocol.pause_writing() failed");
  } else if (size <= out_low_ && app_writing_paused_) {
    app_writing_paused_ = false;
    call_app(&BaseProtocol::resume_writing, "protocol.resume_writing() failed");
  }
}

void SSLProtocol::call_app(void (BaseProtocol::*fn)(), const char* message) noexcept {
  if (!app_) return;
  try {
    ((*app_).*fn)();
  } catch (...) {
    ExceptionContext ctx;
    try {
      ctx.message = message;
    } catch (...) {
    }
    ctx.exception = std::current_exception();
    report(&loop().core(), ctx);
  }
}

void SSLProtocol::set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
  // ≙ add_flowcontrol_defaults(high, low, FLOW_CONTROL_HIGH_WATER_SSL_WRITE)
  const std::size_t hi = high ? *high : low ? 4 * *low : 512 * 1024;
  const std::size_t lo = low ? *low : hi / 4;
  if (hi < lo)
    throw std::invalid_argument("high (" + std::to_string(hi) + ") must be >= low (" + std::to_string(lo) +
                                ") must be >= 0");
  out_high_ = hi;
  out_low_ = lo;
  control_app_writing();
}

// ---- incoming --------------------------------------------------------------------

std::size_t SSLProtocol::ssl_read(char* out, std::size_t len, bool& eof) {
  SSL* ssl = conn_->ssl;
  // Nothing left to decrypt (the transport's bytes all went into OpenSSL, none
  // buffered there): the call could only find the BIO empty and say WANT_READ.
  // Skipping it saves the record layer's entry and the error-queue work after
  // every message's last read (docs/performance.md, "TLS echo (issue 13)").
  if (in_pos_ == in_end_ && SSL_has_pending(ssl) == 0) return 0;
  std::size_t n = 0;
  if (SSL_read_ex(ssl, out, len, &n) == 1) return n;
  const int err = SSL_get_error(ssl, 0);
  if (err == SSL_ERROR_ZERO_RETURN) {
    eof = true;
    return 0;
  }
  if (want_more(err)) {
    return 0;
  }
  std::rethrow_exception(ssl::detail::make_ssl_error(ssl, err));
}

void SSLProtocol::do_read() {
  if (state_ != State::WRAPPED && state_ != State::FLUSHING) return;
  // The thread's error queue must be empty for SSL_get_error() to be right:
  // cleared once here, at the entry of an operation (it costs a
  // thread-local lookup each time: 5 % of a message when done per call);
  // every failure below clears what it left.
  clear_error_queue();
  try {
    if (!app_reading_paused_) {
      if (app_buffered_)
        do_read_buffered();
      else
        do_read_copied();
      if (!backlog_.empty())
        do_write();
      else
        process_outgoing();
    }
    control_ssl_reading();
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error on SSL protocol");
  }
}

void SSLProtocol::do_read_buffered() {
  std::span<char> buf = app_buffered_->get_buffer(static_cast<std::ptrdiff_t>(read_buffer_size()));
  if (buf.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
  std::size_t offset = 0;
  bool eof = false;
  while (offset < buf.size()) {
    const std::size_t n = ssl_read(buf.data() + offset, buf.size() - offset, eof);
    if (n == 0) break;
    offset += n;
  }
  if (offset == buf.size()) {
    // Full: the rest on the next pass (≙ call_soon(self._do_read)).
    loop().call_soon(if_alive(&SSLProtocol::do_read));
  }
  if (offset > 0) app_buffered_->buffer_updated(offset);
  if (eof) {
    call_eof_received();
    start_shutdown();
  }
}

void SSLProtocol::do_read_copied() {
  Scratch own;
  Scratch& s = scratch.busy ? own : scratch;
  if (!s.buf) s.buf = std::make_unique<char[]>(scratch_size);
  s.busy = true;
  struct Release {
    Scratch& s;
    ~Release() { s.busy = false; }
  } release{s};
  bool eof = false;
  for (;;) {
    std::size_t total = 0;
    while (total < scratch_size) {
      const std::size_t n = ssl_read(s.buf.get() + total, scratch_size - total, eof);
      if (n == 0) break;
      total += n;
    }
    if (total) app_->data_received(std::string_view(s.buf.get(), total));
    // A full buffer may leave more; go on unless data_received() paused,
    // closed or replaced what it reads.
    if (total < scratch_size || eof || app_reading_paused_ || !app_ || app_buffered_ ||
        (state_ != State::WRAPPED && state_ != State::FLUSHING))
      break;
  }
  if (eof) {
    call_eof_received();
    start_shutdown();
  }
}

void SSLProtocol::call_eof_received() {
  if (app_state_ != AppState::CON_MADE) return;
  app_state_ = AppState::EOF_SEEN;
  try {
    // Returning true has no effect over TLS (CPython logs a warning).
    (void)app_->eof_received();
  } catch (...) {
    fatal_error(std::current_exception(), "Error calling eof_received()");
  }
}

void SSLProtocol::resume_reading() {
  if (!app_reading_paused_) return;
  app_reading_paused_ = false;
  std::weak_ptr<Transport> self = weak_from_this();
  loop().call_soon([self] {
    auto p = self.lock();
    if (!p) return;
    auto& s = static_cast<SSLProtocol&>(*p);
    if (s.state_ == State::WRAPPED)
      s.do_read();
    else if (s.state_ == State::FLUSHING)
      s.do_flush();
    else if (s.state_ == State::SHUTDOWN)
      s.do_shutdown();
  });
}

void SSLProtocol::control_ssl_reading() {
  const std::size_t size = read_buffer_size();
  if (!transport_) return;
  if (size >= in_high_ && !ssl_reading_paused_) {
    ssl_reading_paused_ = true;
    transport_->pause_reading();
  } else if (size <= in_low_ && ssl_reading_paused_) {
    ssl_reading_paused_ = false;
    transport_->resume_reading();
  }
}

void SSLProtocol::fatal_error(std::exception_ptr exc, const char* message) noexcept {
  if (transport_) force_close_raw(*transport_, exc);
  if (is_os_error(exc) || classify(exc) == ExceptionKind::cancelled) return;
  ExceptionContext ctx;
  try {
    ctx.message = message;
  } catch (...) {
  }
  ctx.exception = std::move(exc);
  report(&loop().core(), ctx);
}

// ---- extra info ------------------------------------------------------------------

std::any SSLProtocol::get_extra_info(std::string_view name, std::any default_value) const {
  if (name == "sslcontext") return conn_->context;
  if (extra_ready_) {
    ssl::SSLObject object(conn_);
    if (name == "ssl_object") return std::make_shared<ssl::SSLObject>(conn_);
    if (name == "peercert") return object.getpeercert();
    if (name == "cipher") return object.cipher();
    if (name == "compression") return object.compression();
  }
  if (transport_) return transport_->get_extra_info(name, std::move(default_value));
  return default_value;
}

// ---- the entry points' layering calls ----------------------------------------------

namespace {

double checked_timeout(std::optional<double> given, double fallback, const char* what) {
  if (!given) return fallback;
  if (!(*given > 0))
    throw std::invalid_argument(std::string(what) + " should be a positive number, got " + float_repr(*given));
  return *given;
}

}  // namespace

std::optional<TlsParams> client_tls(const ConnectionOptions& o, std::string_view host) {
  if (o.server_hostname && !o.ssl)
    throw std::invalid_argument("server_hostname is only meaningful with ssl");
  if (o.ssl_handshake_timeout && !o.ssl)
    throw std::invalid_argument("ssl_handshake_timeout is only meaningful with ssl");
  if (o.ssl_shutdown_timeout && !o.ssl)
    throw std::invalid_argument("ssl_shutdown_timeout is only meaningful with ssl");
  if (!o.ssl) return std::nullopt;
  TlsParams p{*o.ssl, false, std::nullopt, 60.0, 30.0};
  if (o.server_hostname) {
    p.server_hostname = std::string(*o.server_hostname);
  } else {
    if (host.empty()) throw std::invalid_argument("You must set server_hostname when using ssl without a host");
    p.server_hostname = std::string(host);
  }
  p.handshake_timeout = checked_timeout(o.ssl_handshake_timeout, 60.0, "ssl_handshake_timeout");
  p.shutdown_timeout = checked_timeout(o.ssl_shutdown_timeout, 30.0, "ssl_shutdown_timeout");
  return p;
}

std::optional<TlsParams> adopted_tls(const ConnectionOptions& o, Adopt what) {
  if (what == Adopt::connection) return client_tls(o, {});
  if (what == Adopt::unix_connection) {
    if (o.ssl && !o.server_hostname) throw std::invalid_argument("you have to pass server_hostname when using ssl");
    return client_tls(o, {});
  }
  // ≙ connect_accepted_socket: the server side, without server_hostname.
  if (o.server_hostname) throw std::invalid_argument("connect_accepted_socket() takes no server_hostname");
  ServerOptions server;
  server.ssl = o.ssl;
  server.ssl_handshake_timeout = o.ssl_handshake_timeout;
  server.ssl_shutdown_timeout = o.ssl_shutdown_timeout;
  return server_tls(server);
}

std::optional<TlsParams> server_tls(const ServerOptions& o) {
  if (o.ssl_handshake_timeout && !o.ssl)
    throw std::invalid_argument("ssl_handshake_timeout is only meaningful with ssl");
  if (o.ssl_shutdown_timeout && !o.ssl)
    throw std::invalid_argument("ssl_shutdown_timeout is only meaningful with ssl");
  if (!o.ssl) return std::nullopt;
  TlsParams p{*o.ssl, true, std::nullopt, 60.0, 30.0};
  p.handshake_timeout = checked_timeout(o.ssl_handshake_timeout, 60.0, "ssl_handshake_timeout");
  p.shutdown_timeout = checked_timeout(o.ssl_shutdown_timeout, 30.0, "ssl_shutdown_timeout");
  return p;
}

Coroutine<ConnectionResult> wrap_ssl(EventLoop& loop, std::shared_ptr<StreamTransport> t,
                                     std::shared_ptr<Protocol> protocol, std::optional<TlsParams> tls) {
  if (!tls) {
    std::shared_ptr<Transport> transport = connect_protocol(t, protocol);
    co_return ConnectionResult{std::move(transport), std::move(protocol)};
  }
  Future<> waiter = loop.create_future();
  std::shared_ptr<SSLProtocol> ssl;
  try {
    ssl = std::make_shared<SSLProtocol>(loop, protocol, std::move(*tls), waiter);
  } catch (...) {
    t->discard();
    throw;
  }
  connect_protocol(t, ssl);
  // ≙ `try: await waiter except: transport.close(); raise`.
  struct CloseUnlessDone {
    std::shared_ptr<SSLProtocol> ssl;
    bool done = false;
    ~CloseUnlessDone() {
      if (!done) ssl->close();
    }
  } guard{ssl};
  co_await waiter;
  guard.done = true;
  co_return ConnectionResult{std::move(ssl), std::move(protocol)};
}

ProtocolFactory wrap_ssl_factory(EventLoop& loop, ProtocolFactory factory, std::optional<TlsParams> tls) {
  if (!tls) return factory;
  return [loop = &loop, factory = std::move(factory), tls = std::move(*tls)]() -> std::shared_ptr<Protocol> {
    return std::make_shared<SSLProtocol>(*loop, make_protocol(factory), tls, Future<>{});
  };
}

namespace {

/// ≙ BaseEventLoop.start_tls
Coroutine<std::shared_ptr<Transport>> start_tls(EventLoop& loop, std::shared_ptr<Transport> transport,
                                                std::shared_ptr<Protocol> protocol, ssl::SSLContext ctx,
                                                StartTlsOptions o) {
  if (!transport) throw std::invalid_argument("start_tls() needs a transport");
  if (!dynamic_cast<StreamTransport*>(transport.get()) && !dynamic_cast<SSLProtocol*>(transport.get()))
    throw std::invalid_argument("transport is not supported by start_tls()");
  TlsParams p{std::move(ctx), o.server_side, std::nullopt,
              checked_timeout(o.ssl_handshake_timeout, 60.0, "ssl_handshake_timeout"),
              checked_timeout(o.ssl_shutdown_timeout, 30.0, "ssl_shutdown_timeout")};
  if (o.server_hostname) p.server_hostname = std::string(*o.server_hostname);
  Future<> waiter = loop.create_future();
  auto ssl = std::make_shared<SSLProtocol>(loop, std::move(protocol), std::move(p), waiter, false);
  // Paused first, so that no data reaches the new protocol before its
  // connection_made() (≙ CPython's comment).
  transport->pause_reading();
  transport->set_protocol(ssl);
  struct Undo {
    std::shared_ptr<Transport> transport;
    Handle made, resume;
    bool done = false;
    ~Undo() {
      if (done) return;
      try {
        transport->close();
      } catch (...) {
      }
      made.cancel();
      resume.cancel();
    }
  } undo{transport, loop.call_soon([ssl, transport] { ssl->connection_made(*transport); }),
         loop.call_soon([transport] { transport->resume_reading(); })};
  co_await waiter;
  undo.done = true;
  co_return ssl;
}

}  // namespace

}  // namespace asyncio::detail

namespace asyncio {

Coroutine<std::shared_ptr<Transport>> start_tls(EventLoop& loop, std::shared_ptr<Transport> transport,
                                                std::shared_ptr<Protocol> protocol, ssl::SSLContext sslcontext,
                                                StartTlsOptions options) {
  return detail::start_tls(loop, std::move(transport), std::move(protocol), std::move(sslcontext), options);
}

}  // namespace asyncio
