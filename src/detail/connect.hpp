// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the connecting half of create_connection (≙ _connect_sock,
// _interleave_addrinfos and the Happy Eyeballs race of
// BaseEventLoop.create_connection).
#ifndef ASYNCIO_SRC_DETAIL_CONNECT_HPP
#define ASYNCIO_SRC_DETAIL_CONNECT_HPP

#include <asyncio/base_events.hpp>

#include "resolve.hpp"
#include "sslproto.hpp"
#include "stream_transport.hpp"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace asyncio::detail {

/// A transport that has no protocol yet (connecting, or connected and not
/// yet handed over): closed (discard()) when dropped, as CPython closes the
/// socket of a failed or cancelled attempt. Move-only.
struct DiscardGuard {
  std::shared_ptr<StreamTransport> t;

  DiscardGuard() noexcept = default;
  explicit DiscardGuard(std::shared_ptr<StreamTransport> transport) noexcept : t(std::move(transport)) {}
  DiscardGuard(DiscardGuard&& other) noexcept : t(std::move(other.t)) {}
  DiscardGuard& operator=(DiscardGuard&& other) noexcept {
    if (this != &other) {
      reset();
      t = std::move(other.t);
    }
    return *this;
  }
  ~DiscardGuard() { reset(); }
  void reset() noexcept {
    if (t) std::exchange(t, nullptr)->discard();
  }
  /// Gives up ownership: the transport is about to get its protocol.
  std::shared_ptr<StreamTransport> release() noexcept { return std::exchange(t, nullptr); }
};

/// ≙ base_events._interleave_addrinfos: the addresses grouped by family
/// (in order of first appearance), the first `first_address_family_count`
/// - 1 of the first family first, then one of each family in turn.
std::vector<Resolved> interleave_addrinfos(std::vector<Resolved> infos, int first_address_family_count = 1);

/// CPython's `OSError(message)`, which has no errno: what() is the message
/// alone (the code is EINVAL, for want of none).
[[noreturn]] void throw_os_message(std::string message);

/// "error while attempting to bind on address ('127.0.0.1', 80): address
/// already in use": CPython's text for a failed bind(), errno `err`.
std::string bind_error_message(int err, const Resolved& address);

/// create_connection() once the addresses are resolved (`local` empty:
/// no local_addr): the interleaving, the sequential or staggered attempts,
/// the errors. Tests give their own addresses here, as CPython's tests
/// replace getaddrinfo.
/// With `tls` the protocol gets the connection through TLS
/// (client_tls() of sslproto.hpp).
Coroutine<ConnectionResult> connect_resolved(EventLoop& loop, ProtocolFactory factory, std::vector<Resolved> infos,
                                             std::optional<std::vector<Resolved>> local,
                                             ConnectionOptions options, std::optional<TlsParams> tls = {});

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_CONNECT_HPP
