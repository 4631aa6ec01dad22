// asyncio-cpp: SPDX-License-Identifier: MIT
// What every transport shares. ≙ selector_events._SelectorTransport and
// transports._FlowControlMixin.
#include "socket_transport.hpp"

#include "debug.hpp"
#include "uv_error.hpp"

#include <stdexcept>
#include <string>

namespace asyncio::detail {

void SocketTransportBase::set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
  std::size_t h = high ? *high : low ? 4 * *low : 64 * 1024;
  std::size_t l = low ? *low : h / 4;
  if (h < l)
    throw std::invalid_argument("high (" + std::to_string(h) + ") must be >= low (" + std::to_string(l) +
                                ") must be >= 0");
  high_ = h;
  low_ = l;
  maybe_pause_protocol();
}

std::any SocketTransportBase::extra_info(std::string_view name, std::any default_value) const {
  if (name == "peername") return peername_.family ? std::any(peername_) : default_value;
  if (name == "sockname") return sockname_.family ? std::any(sockname_) : default_value;
  if (name == "socket") {
    uv_os_fd_t fd = -1;
    if (!handle_closing()) uv_fileno(handle(), &fd);
    return std::any(TransportSocket(fd));
  }
  return default_value;
}

void SocketTransportBase::close_transport() {
  if (closing_) return;
  closing_ = true;
  stop_reading();
  if (buffered_ == 0) {
    ++conn_lost_;
    post(ev_lost);
  }
}

void SocketTransportBase::force_close(std::exception_ptr exc) noexcept {
  if (conn_lost_) return;
  drop_buffer();
  buffered_ = 0;
  if (!closing_) {
    closing_ = true;
    stop_reading();
  }
  ++conn_lost_;
  lost_exc_ = std::move(exc);
  post(ev_lost);
}

void SocketTransportBase::fatal_error(std::exception_ptr exc, const char* message) noexcept {
  // Socket errors are expected and go to connection_lost() only; anything
  // else is a bug in the protocol and is reported too.
  if (!is_os_error(exc)) report(message, exc);
  force_close(std::move(exc));
}

void SocketTransportBase::fatal_status(int status) noexcept {
  drop_buffer();
  buffered_ = 0;
  if (!conn_lost_) lost_status_ = status;
  force_close(nullptr);
}

void SocketTransportBase::close_for_loop_shutdown() noexcept {
  // Never closed by its owner: debug mode says so (≙ the ResourceWarning
  // of _SelectorTransport.__del__).
  if (!closing_ && core()->debug) {
    uv_os_fd_t fd = -1;
    uv_fileno(handle(), &fd);
    warn_unclosed(core(), "transport <SocketTransport fd=" + std::to_string(fd) + ">");
  }
  // The loop is closing and will run nothing more: no protocol callback.
  closing_ = true;
  if (!conn_lost_) ++conn_lost_;
  drop_buffer();
  buffered_ = 0;
  close_handle();
  // connection_lost() will not be called to drop the protocol, and a
  // stream's protocol refers back to its transport: let go of it here, or
  // the two would keep each other alive.
  std::shared_ptr<BaseProtocol> protocol = std::move(protocol_);
  if (auto* layer = dynamic_cast<ProtocolLayer*>(protocol.get())) layer->drop_for_loop_shutdown();
}

void SocketTransportBase::finish_events(bool lost_due) {
  if (events_ & ev_writable) {
    events_ &= ~ev_writable;
    maybe_resume_protocol();
    if (closing_ && buffered_ == 0 && !conn_lost_) {
      // ≙ _write_ready: close() was waiting for the buffer to drain, and
      // connection_lost() follows at once.
      ++conn_lost_;
      return call_connection_lost();
    }
  }
  if (lost_due) call_connection_lost();
}

void SocketTransportBase::call_connection_lost() noexcept {
  if (lost_status_ && !lost_exc_) lost_exc_ = make_os_error(lost_status_);
  std::shared_ptr<BaseProtocol> protocol = std::move(protocol_);
  if (protocol_connected_ && protocol) {
    protocol_connected_ = false;
    try {
      protocol->connection_lost(lost_exc_);
    } catch (...) {
      report_callback_error(core(), std::current_exception());
    }
  }
  lost_exc_ = nullptr;
  close_handle();
  connection_lost_done();
}

void SocketTransportBase::lose_unmade() noexcept {
  closing_ = true;
  ++conn_lost_;
  call_connection_lost();
}

void SocketTransportBase::maybe_pause_protocol() {
  if (buffered_ > high_ && !protocol_paused_) set_protocol_paused(true);
}

void SocketTransportBase::maybe_resume_protocol() {
  if (buffered_ <= low_ && protocol_paused_) set_protocol_paused(false);
}

void SocketTransportBase::set_protocol_paused(bool paused) {
  // ≙ _FlowControlMixin: the callback's exception is reported, not raised.
  if (!protocol_) return;
  protocol_paused_ = paused;
  try {
    if (paused)
      protocol_->pause_writing();
    else
      protocol_->resume_writing();
  } catch (...) {
    report(paused ? "protocol.pause_writing() failed" : "protocol.resume_writing() failed", std::current_exception());
  }
}

void SocketTransportBase::report(const char* message, std::exception_ptr exc) noexcept {
  ExceptionContext ctx;
  try {
    ctx.message = message;
  } catch (...) {
  }
  ctx.exception = std::move(exc);
  detail::report(core(), ctx);
}

}  // namespace asyncio::detail
