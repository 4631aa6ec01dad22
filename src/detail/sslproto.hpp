// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the TLS layer between a stream transport and the application's
// protocol. ≙ Lib/asyncio/sslproto.py (SSLProtocol and
// _SSLProtocolTransport), over OpenSSL with the buffers of docs/design-notes.md
// "TLS".
#ifndef ASYNCIO_SRC_DETAIL_SSLPROTO_HPP
#define ASYNCIO_SRC_DETAIL_SSLPROTO_HPP

#include <asyncio/base_events.hpp>
#include <asyncio/events.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/ssl.hpp>
#include <asyncio/transports.hpp>

#include "socket_transport.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace asyncio::ssl::detail {
struct ConnectionState;
}

namespace asyncio::detail {

class StreamTransport;

/// What a TLS connection is made with (the ssl keyword arguments).
struct TlsParams {
  ssl::SSLContext context;
  bool server_side = false;
  std::optional<std::string> server_hostname;
  double handshake_timeout = 60.0;  ///< ≙ constants.SSL_HANDSHAKE_TIMEOUT
  double shutdown_timeout = 30.0;   ///< ≙ constants.SSL_SHUTDOWN_TIMEOUT
};

/// ≙ sslproto.SSLProtocol, and its _SSLProtocolTransport in the same
/// object: the BufferedProtocol of the raw transport (which reads straight
/// into its buffer, from which OpenSSL decrypts) and the Transport the
/// application is given. Made by make_shared (the raw transport holds it
/// as its protocol until connection_lost, the application as its
/// transport). Every method runs during a loop pass; none lets an
/// exception reach OpenSSL.
class SSLProtocol final : public Transport, public BufferedProtocol, public ProtocolLayer {
 public:
  enum class State : std::uint8_t { UNWRAPPED, DO_HANDSHAKE, WRAPPED, FLUSHING, SHUTDOWN };

  /// `waiter` (may be empty) completes when the handshake does.
  /// `call_connection_made`: false for start_tls (the application already
  /// has its connection).
  SSLProtocol(EventLoop& loop, std::shared_ptr<Protocol> app, TlsParams params, Future<> waiter,
              bool call_connection_made = true);
  ~SSLProtocol() override;

  State state() const noexcept { return state_; }

  // ---- the raw side (BufferedProtocol) ----
  void connection_made(Transport& transport) override;
  void connection_lost(std::exception_ptr exc) override;
  std::span<char> get_buffer(std::ptrdiff_t sizehint) override;
  void buffer_updated(std::size_t nbytes) override;
  bool eof_received() override;
  void pause_writing() override;
  void resume_writing() override;

  // ---- the application side (Transport) ----
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const override;
  bool is_closing() const override { return app_closed_; }
  void close() override;
  bool is_reading() const override { return !app_reading_paused_; }
  void pause_reading() override { app_reading_paused_ = true; }
  void resume_reading() override;
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;
  std::size_t get_write_buffer_size() const override { return out_.size() + backlog_size_; }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override { return {out_low_, out_high_}; }
  void write(std::string_view data) override;
  void writelines(std::span<const std::string_view> list) override;
  void write_eof() override;
  bool can_write_eof() const override { return false; }
  void abort() override { force_close(nullptr); }
  void set_protocol(std::shared_ptr<Protocol> protocol) override;
  std::shared_ptr<Protocol> get_protocol() const override { return app_; }

  /// The loop closed: lets go of the application's protocol and the raw
  /// transport (and tells a TLS layer inside this one), calling nothing.
  void drop_for_loop_shutdown() noexcept override;

  /// ≙ _SSLProtocolTransport._force_close.
  void force_close(std::exception_ptr exc) noexcept;

  // The BIO's side (sslproto.cpp).
  std::size_t bio_read(char* out, std::size_t len) noexcept;
  void bio_write(const char* data, std::size_t len);

 private:
  EventLoop& loop() const noexcept { return *loop_; }
  void set_state(State s);
  void set_app_protocol(std::shared_ptr<Protocol> p) noexcept;
  void wakeup_waiter(std::exception_ptr exc = nullptr) noexcept;
  void start_handshake();
  void check_handshake_timeout();
  /// A callback (a timer's, a call_soon's) that runs `step` on this
  /// protocol if it still exists: it must not keep the connection alive.
  std::function<void()> if_alive(void (SSLProtocol::*step)());
  void cancel_timers() noexcept;
  void do_handshake();
  void on_handshake_complete(std::exception_ptr exc);
  void start_shutdown();
  void check_shutdown_timeout();
  void do_flush();
  void do_shutdown();
  void on_shutdown_complete(std::exception_ptr exc);
  void abort_raw(std::exception_ptr exc) noexcept;
  void write_appdata(std::span<const std::string_view> list);
  void do_write();
  void process_outgoing();
  void do_read();
  void do_read_buffered();
  void do_read_copied();
  void call_eof_received();
  void control_app_writing();
  void control_ssl_reading();
  std::size_t read_buffer_size() const noexcept { return in_end_ - in_pos_; }
  void fatal_error(std::exception_ptr exc, const char* message = "Fatal error on transport") noexcept;
  void call_app(void (BaseProtocol::*fn)(), const char* message) noexcept;
  /// SSL_read into `out`; 0 with *eof at close_notify, 0 when it wants more.
  std::size_t ssl_read(char* out, std::size_t len, bool& eof);

  EventLoop* loop_;
  std::shared_ptr<Protocol> app_;
  BufferedProtocol* app_buffered_ = nullptr;
  std::shared_ptr<Transport> transport_;  ///< the raw transport, until connection_lost
  std::shared_ptr<ssl::detail::ConnectionState> conn_;
  TlsParams params_;
  Future<> waiter_;
  TimerHandle handshake_timer_;
  TimerHandle shutdown_timer_;

  // Incoming: the raw transport reads into in_ (lent by get_buffer()),
  // OpenSSL reads [in_pos_, in_end_) through the BIO.
  std::unique_ptr<char[]> in_;
  std::size_t in_cap_ = 0;
  std::size_t in_pos_ = 0;
  std::size_t in_end_ = 0;
  // Outgoing: every record OpenSSL makes is appended to out_, handed to
  // the raw transport in one write() per operation.
  std::string out_;
  std::deque<std::string> backlog_;  ///< written before the handshake ended
  std::size_t backlog_size_ = 0;

  std::size_t in_high_ = 256 * 1024;   ///< ≙ FLOW_CONTROL_HIGH_WATER_SSL_READ
  std::size_t in_low_ = 64 * 1024;
  std::size_t out_high_ = 512 * 1024;  ///< ≙ FLOW_CONTROL_HIGH_WATER_SSL_WRITE
  std::size_t out_low_ = 128 * 1024;

  State state_ = State::UNWRAPPED;
  enum class AppState : std::uint8_t { INIT, CON_MADE, EOF_SEEN, CON_LOST } app_state_;
  int conn_lost_ = 0;
  bool app_closed_ = false;
  bool eof_received_ = false;
  bool ssl_writing_paused_ = false;
  bool app_reading_paused_ = false;
  bool ssl_reading_paused_ = false;
  bool app_writing_paused_ = false;
  bool extra_ready_ = false;  ///< the handshake's extra info is set
};

/// The TLS parameters of a client connection to `host`, or nullopt for
/// plain TCP; ≙ the checks at the top of create_connection (ValueError
/// "server_hostname is only meaningful with ssl", "You must set
/// server_hostname when using ssl without a host", ...).
std::optional<TlsParams> client_tls(const ConnectionOptions& options, std::string_view host);
/// The same for a server (`ssl_handshake_timeout is only meaningful with ssl`).
std::optional<TlsParams> server_tls(const ServerOptions& options);

/// The same for `sock=` connections, Unix connections (`what` =
/// Adopt::unix_connection: server_hostname required, "you have to pass
/// server_hostname when using ssl") and connect_accepted_socket (server side).
std::optional<TlsParams> adopted_tls(const ConnectionOptions& options, Adopt what);

/// The one layering call of the client entry points: gives `protocol` to
/// the connected raw transport `t`, through TLS when `tls` is set, and
/// waits for the handshake (closing the transport if it fails or is
/// cancelled). The result's transport is the one the protocol was given.
Coroutine<ConnectionResult> wrap_ssl(EventLoop& loop, std::shared_ptr<StreamTransport> t,
                                     std::shared_ptr<Protocol> protocol,
                                     std::optional<TlsParams> tls);
/// The one layering call of the server entry points: a factory whose
/// protocols are the application's behind TLS (or `factory` itself).
ProtocolFactory wrap_ssl_factory(EventLoop& loop, ProtocolFactory factory, std::optional<TlsParams> tls);

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_SSLPROTO_HPP
