// asyncio-cpp: SPDX-License-Identifier: MIT
// create_connection: resolving, then connecting one address after another
// or staggered (Happy Eyeballs, RFC 8305). ≙ BaseEventLoop.create_connection,
// _connect_sock and _interleave_addrinfos of Lib/asyncio/base_events.py.
#include <asyncio/base_events.hpp>

#include <asyncio/exceptions.hpp>
#include <asyncio/staggered.hpp>

#include "detail/connect.hpp"
#include "detail/resolve.hpp"
#include "detail/sockaddr.hpp"
#include "detail/stream_transport.hpp"
#include "detail/uv_error.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace asyncio::detail {

std::vector<Resolved> interleave_addrinfos(std::vector<Resolved> infos, int first_address_family_count) {
  // Group by family, in order of first appearance (≙ the OrderedDict).
  std::vector<std::vector<Resolved>> by_family;
  for (Resolved& info : infos) {
    auto group = std::find_if(by_family.begin(), by_family.end(),
                              [&](const std::vector<Resolved>& g) { return g.front().family == info.family; });
    if (group == by_family.end())
      by_family.push_back({std::move(info)});
    else
      group->push_back(std::move(info));
  }
  std::vector<Resolved> reordered;
  reordered.reserve(infos.size());
  std::vector<std::size_t> taken(by_family.size(), 0);
  if (first_address_family_count > 1 && !by_family.empty()) {
    const std::size_t n = std::min(by_family[0].size(), std::size_t(first_address_family_count - 1));
    for (; taken[0] < n; ++taken[0]) reordered.push_back(std::move(by_family[0][taken[0]]));
  }
  // ≙ zip_longest(*lists), the Nones left out.
  for (bool more = true; more;) {
    more = false;
    for (std::size_t f = 0; f < by_family.size(); ++f) {
      if (taken[f] == by_family[f].size()) continue;
      reordered.push_back(std::move(by_family[f][taken[f]++]));
      more = true;
    }
  }
  return reordered;
}

namespace {

std::string address_repr(const Resolved& r) { return to_socket_address(r.sa(), r.len).repr(); }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// ≙ repr(socket.AddressFamily(family)), as CPython's f"{family=}" shows it.
std::string family_repr(int family) {
  if (family == AF_INET) return "<AddressFamily.AF_INET: 2>";
  if (family == AF_INET6) return "<AddressFamily.AF_INET6: 10>";
  return std::to_string(family);
}

std::string describe_what(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "<unknown>";
  }
}

/// ≙ the tail of create_connection: every error in an ExceptionGroup
/// (all_errors), else one error as it is, several as "Multiple exceptions:
/// ..." unless they all read the same; none (every attempt ended in
/// something other than an OSError, which a staggered race keeps to itself)
/// is TimeoutError("create_connection failed"), as CPython since gh-135836.
[[noreturn]] void throw_connect_errors(std::vector<std::exception_ptr> errors, bool all_errors) {
  if (errors.empty()) throw TimeoutError("create_connection failed");
  if (all_errors) throw ExceptionGroup("create_connection failed", std::move(errors));
  const std::string first = describe_what(errors.front());
  bool same = true;
  std::string all;
  for (const auto& e : errors) {
    const std::string text = describe_what(e);
    same = same && text == first;
    if (!all.empty()) all += ", ";
    all += text;
  }
  if (errors.size() == 1 || same) std::rethrow_exception(errors.front());
  std::error_code code;
  try {
    std::rethrow_exception(errors.front());
  } catch (const std::system_error& e) {
    code = e.code();
  } catch (...) {
  }
  throw OSError(code, "Multiple exceptions: " + all);
}

/// A non-blocking TCP socket of `info`'s family, owned by `conn`'s handle.
void open_socket(DiscardGuard& conn, const Resolved& info) {
  const int fd = ::socket(info.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, info.proto);
  if (fd < 0) throw_errno(errno);
  if (int rc = conn.t->open(fd); rc < 0) {
    ::close(fd);
    throw_os_error(rc);
  }
}

/// Binds the socket to the first local address of `family` that works; the
/// failures are `my_errors` (≙ the for/else of _connect_sock).
void bind_local(DiscardGuard& conn, int family, const std::vector<Resolved>& local,
                std::vector<std::exception_ptr>& my_errors) {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(conn.t->tcp()), &fd);
  for (const Resolved& l : local) {
    if (l.family != family) continue;  // skip local addresses of another family
    if (::bind(fd, l.sa(), l.len) == 0) return;
    const int err = errno;
    my_errors.push_back(std::make_exception_ptr(
        OSError(std::error_code(err, std::system_category()),
                os_error_text(std::error_code(err, std::system_category()), bind_error_message(err, l)))));
  }
  if (my_errors.empty()) throw_os_message("no matching local address with family=" + family_repr(family) + " found");
  // ≙ `raise my_exceptions.pop()`: the caller appends it again.
  std::exception_ptr last = my_errors.back();
  my_errors.pop_back();
  std::rethrow_exception(last);
}

/// ≙ _connect_sock: creates, binds and connects one socket. Its OSErrors
/// are recorded in `my_errors` (its own list, in the order the attempts
/// started) before they propagate; a failed or cancelled attempt closes its
/// socket.
Coroutine<DiscardGuard> connect_sock(EventLoop& loop, std::vector<std::exception_ptr>& my_errors, const Resolved& info,
                                     const std::vector<Resolved>* local) {
  DiscardGuard conn(StreamTransport::make(loop, StreamTransport::Kind::tcp));
  try {
    open_socket(conn, info);
    if (local) bind_local(conn, info.family, *local, my_errors);
    Future<int> connected = loop.create_future<int>();
    int status = conn.t->connect(info.sa(), connected);
    if (status == 0) status = co_await connected;
    if (status != 0) throw_os_error(status, "Connect call failed " + address_repr(info));
  } catch (const std::system_error&) {
    my_errors.push_back(std::current_exception());
    throw;
  }
  co_return std::move(conn);
}

std::vector<std::exception_ptr> flatten(std::deque<std::vector<std::exception_ptr>>& lists) {
  std::vector<std::exception_ptr> all;
  for (auto& list : lists) all.insert(all.end(), list.begin(), list.end());
  return all;
}

}  // namespace

void throw_os_message(std::string message) {
  throw OSError(std::make_error_code(std::errc::invalid_argument), std::move(message));
}

std::string bind_error_message(int err, const Resolved& address) {
  return "error while attempting to bind on address " + address_repr(address) + ": " +
         lower(std::error_code(err, std::system_category()).message());
}

Coroutine<ConnectionResult> connect_resolved(EventLoop& loop, ProtocolFactory factory, std::vector<Resolved> infos,
                                             std::optional<std::vector<Resolved>> local,
                                             ConnectionOptions options, std::optional<TlsParams> tls) {
  const std::vector<Resolved>* laddr = local ? &*local : nullptr;
  std::optional<int> interleave = options.interleave;
  // With Happy Eyeballs the families alternate unless told otherwise.
  if (options.happy_eyeballs_delay && !interleave) interleave = 1;
  if (interleave && *interleave) infos = interleave_addrinfos(std::move(infos), *interleave);
  // ≙ `exceptions`, a list per attempt (an attempt appends to its own
  // while others run); a deque keeps each list where it is.
  std::deque<std::vector<std::exception_ptr>> errors;
  DiscardGuard conn;
  if (!options.happy_eyeballs_delay) {
    for (const Resolved& info : infos) {
      Coroutine<DiscardGuard> attempt = connect_sock(loop, errors.emplace_back(), info, laddr);
      try {
        conn = co_await attempt;
        break;
      } catch (const std::system_error&) {
        // Recorded in `errors`: try the next address.
      }
    }
  } else {
    // Each attempt in a task of its own (design-notes, "Happy Eyeballs").
    std::vector<std::function<Coroutine<DiscardGuard>()>> attempts;
    attempts.reserve(infos.size());
    for (const Resolved& info : infos)
      attempts.emplace_back([&loop, &errors, &info, laddr] { return connect_sock(loop, errors.emplace_back(), info, laddr); });
    Coroutine<StaggeredResult<DiscardGuard>> race = staggered_race(std::move(attempts), options.happy_eyeballs_delay);
    StaggeredResult<DiscardGuard> result = co_await race;
    if (result.winner_result) conn = std::move(*result.winner_result);
  }
  if (!conn.t) throw_connect_errors(flatten(errors), options.all_errors);
  std::shared_ptr<Protocol> protocol = make_protocol(factory);
  // The protocol gets the transport directly, or through TLS.
  Coroutine<ConnectionResult> made = wrap_ssl(loop, conn.release(), std::move(protocol), std::move(tls));
  co_return co_await made;
}

Coroutine<ConnectionResult> create_connection(EventLoop& loop, ProtocolFactory factory, std::string host, int port,
                                              ConnectionOptions options) {
  if (options.sock >= 0) throw std::invalid_argument("host/port and sock can not be specified at the same time");
  std::optional<TlsParams> tls = client_tls(options, host);  // TLS (sslproto.cpp)
  const AddrInfoOptions hints{options.family, SOCK_STREAM, options.proto, options.flags};
  // Named coroutines, not temporaries, inside co_await (GCC 12, see
  // base_events.hpp).
  Coroutine<std::vector<Resolved>> lookup = resolve(loop, host, port, hints, "connect");
  std::vector<Resolved> infos = co_await lookup;
  if (infos.empty()) throw_os_message("getaddrinfo() returned empty list");
  std::optional<std::vector<Resolved>> local;
  if (!options.local_host.empty() || options.local_port != 0) {
    AddrInfoOptions local_hints = hints;
    if (options.local_host.empty()) local_hints.flags |= AI_PASSIVE;
    Coroutine<std::vector<Resolved>> local_lookup =
        resolve(loop, std::string(options.local_host), options.local_port, local_hints, "bind");
    local = co_await local_lookup;
    if (local->empty()) throw_os_message("getaddrinfo() returned empty list");
  }
  Coroutine<ConnectionResult> connect =
      connect_resolved(loop, std::move(factory), std::move(infos), std::move(local), options, std::move(tls));
  co_return co_await connect;
}

}  // namespace asyncio::detail
