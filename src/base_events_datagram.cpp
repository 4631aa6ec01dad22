// asyncio-cpp: SPDX-License-Identifier: MIT
// create_datagram_endpoint. ≙ BaseEventLoop.create_datagram_endpoint in
// Lib/asyncio/base_events.py (its rules, order and messages).
#include <asyncio/base_events.hpp>

#include <asyncio/exceptions.hpp>

#include "detail/datagram_transport.hpp"
#include "detail/resolve.hpp"
#include "detail/sockaddr.hpp"
#include "detail/uv_error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asyncio::detail {

namespace {

/// A descriptor closed unless released.
struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
  int release() noexcept { return std::exchange(fd, -1); }
};

/// One socket to try: ≙ an entry of CPython's addr_pairs_info.
struct Candidate {
  int family;
  int proto;
  std::optional<Resolved> local;
  std::optional<Resolved> remote;
};

// Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on
// chains of std::string operator+ (GCC PR 105329).
std::string quoted_addr(const HostPort& a, int family) {
  std::string out(family == AF_UNIX ? "'" : "('");
  out += a.host;
  out += '\'';
  if (family == AF_UNIX) return out;
  out += ", ";
  out += std::to_string(a.port);
  out += ')';
  return out;
}

/// ≙ the `sock=` checks: a datagram socket, and no other option.
void check_sock(const DatagramOptions& o) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(o.sock, SOL_SOCKET, SO_TYPE, &type, &len) != 0) throw_errno(errno);
  if (type == SOCK_STREAM)
    throw std::invalid_argument("A datagram socket was expected, got " + TransportSocket(o.sock).repr());
  std::string problems;
  auto add = [&problems](const std::string& p) {
    if (!problems.empty()) problems += ", ";
    problems += p;
  };
  if (o.local_addr.given()) add("local_addr=" + quoted_addr(o.local_addr, o.family));
  if (o.remote_addr.given()) add("remote_addr=" + quoted_addr(o.remote_addr, o.family));
  if (o.family) add("family=" + std::to_string(o.family));
  if (o.proto) add("proto=" + std::to_string(o.proto));
  if (o.flags) add("flags=" + std::to_string(o.flags));
  if (o.reuse_port) add("reuse_port=True");
  if (o.allow_broadcast) add("allow_broadcast=True");
  if (!problems.empty())
    throw std::invalid_argument("socket modifier keyword arguments can not be used when sock is specified. (" +
                                problems + ")");
  const int flags = ::fcntl(o.sock, F_GETFL);
  if (flags < 0 || ::fcntl(o.sock, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno(errno);
}

Resolved unix_resolved(std::string_view path) {
  sockaddr_un un;
  Resolved r;
  r.len = unix_address(path, un);
  std::memcpy(&r.addr, &un, r.len);
  r.family = AF_UNIX;
  r.type = SOCK_DGRAM;
  return r;
}

/// ≙ the AF_UNIX branch: paths, and a stale socket file at the local one
/// removed first.
std::vector<Candidate> unix_candidates(const DatagramOptions& o) {
  Candidate c{AF_UNIX, o.proto, std::nullopt, std::nullopt};
  if (o.local_addr.given()) {
    const std::string path(o.local_addr.host);
    struct stat st {};
    if (!path.empty() && path[0] != '\0' && ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
      ::unlink(path.c_str());
    c.local = unix_resolved(path);
  }
  if (o.remote_addr.given()) c.remote = unix_resolved(o.remote_addr.host);
  return {c};
}

/// ≙ the IP branch: each address resolved, joined by (family, proto) in
/// the order found, keeping the pairs that have every address given.
Coroutine<std::vector<Candidate>> ip_candidates(EventLoop& loop, DatagramOptions o, std::string local_host,
                                                std::string remote_host) {
  std::vector<Candidate> pairs;
  const AddrInfoOptions hints{o.family, SOCK_DGRAM, o.proto, o.flags};
  for (int idx = 0; idx < 2; ++idx) {
    const HostPort& a = idx == 0 ? o.local_addr : o.remote_addr;
    if (!a.given()) continue;
    Coroutine<std::vector<Resolved>> lookup =
        resolve(loop, idx == 0 ? local_host : remote_host, a.port < 0 ? 0 : a.port, hints, idx == 0 ? "bind" : "connect");
    std::vector<Resolved> infos = co_await lookup;
    if (infos.empty()) throw_errno(EINVAL, "getaddrinfo() returned empty list");
    for (Resolved& r : infos) {
      auto it = std::find_if(pairs.begin(), pairs.end(),
                             [&r](const Candidate& c) { return c.family == r.family && c.proto == r.proto; });
      if (it == pairs.end()) it = pairs.insert(pairs.end(), Candidate{r.family, r.proto, std::nullopt, std::nullopt});
      std::optional<Resolved>& slot = idx == 0 ? it->local : it->remote;
      if (!slot) slot = std::move(r);
    }
  }
  std::erase_if(pairs, [&o](const Candidate& c) {
    return (o.local_addr.given() && !c.local) || (o.remote_addr.given() && !c.remote);
  });
  if (pairs.empty()) throw std::invalid_argument("can not get address information");
  co_return pairs;
}

void set_flag(int fd, int level, int name) {
  int one = 1;
  if (::setsockopt(fd, level, name, &one, sizeof one) != 0) throw_errno(errno);
}

/// One socket for `c`, bound and connected as asked. Throws OSError.
int open_candidate(const Candidate& c, const DatagramOptions& o) {
  FdGuard fd{::socket(c.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, c.proto)};
  if (fd.fd < 0) throw_errno(errno);
  if (o.reuse_port) set_flag(fd.fd, SOL_SOCKET, SO_REUSEPORT);
  if (o.allow_broadcast) set_flag(fd.fd, SOL_SOCKET, SO_BROADCAST);
  if (c.local && ::bind(fd.fd, c.local->sa(), c.local->len) != 0) throw_errno(errno);
  // A datagram connect() completes at once: no waiting (≙ sock_connect).
  if (c.remote && !o.allow_broadcast && ::connect(fd.fd, c.remote->sa(), c.remote->len) != 0) throw_errno(errno);
  return fd.release();
}

}  // namespace

Coroutine<DatagramResult> create_datagram_endpoint(EventLoop& loop, DatagramProtocolFactory factory,
                                                   DatagramOptions options) {
  // The views are copied before the first suspension.
  const std::string local_host(options.local_addr.host);
  const std::string remote_host(options.remote_addr.host);
  options.local_addr.host = local_host;
  options.remote_addr.host = remote_host;
  FdGuard fd;
  std::optional<DatagramTransportImpl::Remote> remote;
  if (options.sock >= 0) {
    check_sock(options);
  } else {
    std::vector<Candidate> candidates;
    if (!options.local_addr.given() && !options.remote_addr.given()) {
      if (options.family == AF_UNSPEC) throw std::invalid_argument("unexpected address family");
      candidates.push_back(Candidate{options.family, options.proto, std::nullopt, std::nullopt});
    } else if (options.family == AF_UNIX) {
      candidates = unix_candidates(options);
    } else {
      Coroutine<std::vector<Candidate>> lookup = ip_candidates(loop, options, local_host, remote_host);
      candidates = co_await lookup;
    }
    std::exception_ptr first;
    for (const Candidate& c : candidates) {
      try {
        fd.fd = open_candidate(c, options);
      } catch (const std::system_error&) {
        if (!first) first = std::current_exception();
        continue;
      }
      if (c.remote) remote = DatagramTransportImpl::Remote{c.remote->addr, c.remote->len};
      break;
    }
    if (fd.fd < 0) std::rethrow_exception(first);
  }
  std::shared_ptr<DatagramProtocol> protocol = factory();
  if (!protocol) throw std::invalid_argument("the protocol factory returned no protocol");
  // An adopted socket stays the caller's until the transport takes it.
  const int sock = options.sock >= 0 ? options.sock : fd.release();
  std::shared_ptr<DatagramTransportImpl> transport = DatagramTransportImpl::make(loop, sock, remote ? &*remote : nullptr);
  transport->start(protocol);
  co_return DatagramResult{std::move(transport), std::move(protocol)};
}

}  // namespace asyncio::detail
