// asyncio-cpp: SPDX-License-Identifier: MIT
// The datagram transport. ≙ selector_events._SelectorDatagramTransport
// (the order of the protocol callbacks, sendto's rules and buffering)
// mapped onto uv_udp_t.
#include "datagram_transport.hpp"

#include <asyncio/exceptions.hpp>

#include "sockaddr.hpp"
#include "uv_error.hpp"
#include "uv_loop.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace asyncio::detail {

namespace {

// Received datagrams wait here for the next pass. libuv's recvmmsg gives
// each datagram of a batch a 64 KiB slot, and takes at most 20 at once:
// the arena holds that many (a malloc this large is mapped, and only the
// pages datagrams land on become resident); reading stops while less than
// one slot is free.
constexpr std::size_t slot_size = 64 * 1024;
constexpr std::size_t max_batch = 20;
constexpr std::size_t min_batch = 2;
constexpr std::size_t arena_size = max_batch * slot_size;
// ≙ the 8 bytes of header CPython counts per buffered datagram.
constexpr std::size_t header_size = 8;

int socket_family(int fd) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return AF_UNSPEC;
  return ss.ss_family;
}

}  // namespace

/// A datagram the kernel refused at once, queued to libuv with its copy.
struct DatagramTransportImpl::QueuedSend {
  uv_udp_send_t req;
  std::string data;
  sockaddr_storage addr;
};

std::shared_ptr<DatagramTransportImpl> DatagramTransportImpl::make(EventLoop& loop, int fd, const Remote* remote) {
  std::shared_ptr<DatagramTransportImpl> t;
  try {
    t = std::make_shared<DatagramTransportImpl>(Tag{}, loop);
  } catch (...) {
    ::close(fd);
    throw;
  }
  t->hold_self(t);
  if (int rc = t->open(fd); rc < 0) {
    ::close(fd);
    t->close_handle();
    throw_os_error(rc);
  }
  if (remote) {
    t->remote_addr_ = *remote;
    t->remote_ = to_socket_address(reinterpret_cast<const sockaddr*>(&remote->addr), remote->len);
  }
  t->cache_addresses();
  return t;
}

DatagramTransportImpl::DatagramTransportImpl(Tag, EventLoop& loop) : TransportOf(&loop.core()) {}

DatagramTransportImpl::~DatagramTransportImpl() { std::free(arena_); }

int DatagramTransportImpl::open(int fd) noexcept {
  family_ = socket_family(fd);
  // recvmmsg batches on IP sockets only: libuv's batch keeps a sender's
  // address in a sockaddr_in6, too small for a Unix one.
  const bool ip = family_ == AF_INET || family_ == AF_INET6;
  int rc = uv_udp_init_ex(uv_loop_of(*core()->owner), &h_, ip ? UV_UDP_RECVMMSG : 0);
  batch_ = ip ? min_batch : 0;
  if (rc < 0) return rc;
  bind_handle(reinterpret_cast<uv_handle_t*>(&h_));
  rc = uv_udp_open(&h_, fd);
  if (rc == 0) fd_ = fd;
  return rc;
}

DatagramTransportImpl* DatagramTransportImpl::from(uv_handle_t* h) noexcept {
  return static_cast<DatagramTransportImpl*>(of(h));
}

void DatagramTransportImpl::cache_addresses() noexcept {
  try {
    uv_os_fd_t fd = -1;
    if (uv_fileno(handle(), &fd) != 0) return;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
      sockname_ = to_socket_address(reinterpret_cast<sockaddr*>(&ss), len);
    len = sizeof ss;
    // Connected (to remote_addr, or an adopted socket already was): sends
    // go without an address, as CPython's do when it has a peername.
    connected_ = ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
    if (connected_) peername_ = to_socket_address(reinterpret_cast<sockaddr*>(&ss), len);
  } catch (...) {
  }
}

void DatagramTransportImpl::start(std::shared_ptr<DatagramProtocol> protocol) {
  make_connection(std::move(protocol), static_cast<DatagramTransport&>(*this));
  update_reading();
}

// ---- receiving ---------------------------------------------------------------

void DatagramTransportImpl::update_reading() noexcept {
  if (handle_closing()) {
    reading_ = false;
    return;
  }
  const bool want = protocol_connected_ && !closing_ && !paused_;
  if (want && !reading_) {
    const int rc = uv_udp_recv_start(&h_, &on_alloc, &on_recv);
    reading_ = rc == 0;
    // Not receiving would leave the protocol waiting for ever: the error
    // goes to error_received(), as a failed recvfrom() would.
    if (rc < 0) error_received(rc);
  } else if (!want && reading_) {
    uv_udp_recv_stop(&h_);
    reading_ = false;
  }
}

void DatagramTransportImpl::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  DatagramTransportImpl* t = from(h);
  if (!t->arena_) t->arena_ = static_cast<char*>(std::malloc(arena_size));
  // Less than a slot free: no buffer, and libuv ends this read with
  // UV_ENOBUFS without stopping the handle; the datagrams held are
  // delivered in this pass, and the next poll reads on. (Stopping and
  // restarting the handle instead cost two epoll_ctl calls per batch.)
  std::size_t len = t->arena_ ? arena_size - t->tail_ : 0;
  if (len < slot_size) len = 0;
  if (t->batch_) {
    // The last batch came short: the kernel had no more then, so this
    // read ends without another recvmmsg (the same UV_ENOBUFS); what comes
    // later makes the socket readable again (libuv polls level-triggered).
    if (t->drained_) len = 0;
    t->drained_ = false;
    t->offered_ = std::min(len / slot_size, t->next_batch());
    len = t->offered_ * slot_size;
  }
  buf->base = len ? t->arena_ + t->tail_ : nullptr;
  buf->len = len;
}

std::size_t DatagramTransportImpl::next_batch() noexcept {
  // libuv prepares every slot it is given before each recvmmsg, the last
  // one of a read (EAGAIN) too: a batch as large as the arena costs a
  // quiet endpoint more than the datagram. So the batch follows the
  // traffic: twice as large after one that came full, half after one at
  // most half full (not after the empty read that ends a wake-up). Never
  // below two: a lone datagram then comes as a short batch, which ends the
  // read without the empty recvmmsg.
  if (offered_ && received_ >= offered_)
    batch_ = std::min<std::size_t>(batch_ * 2, max_batch);
  else if (received_ && received_ * 2 <= offered_ && batch_ > min_batch)
    batch_ /= 2;
  received_ = 0;
  return batch_;
}

void DatagramTransportImpl::on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                                    unsigned flags) noexcept {
  DatagramTransportImpl* t = from(reinterpret_cast<uv_handle_t*>(h));
  // A datagram, with room for its record: the path of every datagram,
  // kept free of the rest (a small function has no register spills).
  if (nread >= 0 && addr && t->records_.size() < t->records_.capacity()) [[likely]] {
    t->record(t->records_.emplace_back(), nread, buf, addr);
    ++t->received_;
    t->post(ev_received);
    return;
  }
  t->on_recv_other(nread, buf, addr, flags);
}

void DatagramTransportImpl::record(Record& r, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr) noexcept {
  r.error = 0;
  r.offset = static_cast<std::size_t>(buf->base - arena_);
  r.len = static_cast<std::size_t>(nread);
  tail_ = r.offset + r.len;
  // Fixed-size copies (inlined): libuv's sender buffers hold at least a
  // sockaddr_in6 (recvmmsg) or a sockaddr_storage.
  if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
    std::memcpy(&r.addr, addr, sizeof(sockaddr_in6));
    r.addrlen = addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  } else {
    std::memcpy(&r.addr, addr, sizeof(sockaddr_un));
    r.addrlen = sizeof(sockaddr_un);
  }
}

void DatagramTransportImpl::on_recv_other(ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                                          unsigned flags) noexcept {
  // nread 0 without a sender: nothing more to read now, or the end of a
  // recvmmsg batch (UV_UDP_MMSG_FREE; on_alloc's next_batch() reads how
  // full it came). 0 with a sender is an empty datagram.
  if (nread == 0 && !addr) {
    if (flags & UV_UDP_MMSG_FREE) drained_ = received_ < offered_;
    return;
  }
  // The arena is full (on_alloc): not an error, the read waits a pass.
  if (nread == UV_ENOBUFS && arena_) return;
  try {
    Record& r = records_.emplace_back();
    if (nread < 0) {
      r.error = static_cast<int>(nread);
      r.offset = r.len = 0;
      r.addrlen = 0;
    } else {
      record(r, nread, buf, addr);
      ++received_;
    }
  } catch (...) {
    // Out of memory for the record: the datagram is dropped, as the
    // kernel drops what does not fit.
  }
  post(ev_received);
}

void DatagramTransportImpl::run(bool discard) noexcept {
  if (discard) {
    events_ = 0;
    return;
  }
  const bool lost_due = events_ & ev_lost;
  events_ &= ~(unsigned{ev_lost} | ev_received);
  deliver();
  if (events_ & ev_send_error) {
    events_ &= ~ev_send_error;
    for (std::size_t i = 0; i < send_errors_.size() && !conn_lost_; ++i) error_received(send_errors_[i]);
    send_errors_.clear();
  }
  try {
    finish_events(lost_due);
  } catch (...) {
    report_callback_error(core(), std::current_exception());
  }
}

void DatagramTransportImpl::deliver() noexcept {
  // ≙ _read_ready, once per datagram: nothing once the transport is lost
  // or closing (close() removes the reader); an exception from the
  // protocol is reported and the next datagram is delivered (CPython's
  // _read_ready does not catch it: the loop reports it per callback).
  for (std::size_t i = 0; i < records_.size() && !closing_; ++i) {
    const Record& r = records_[i];
    if (r.error) {
      error_received(r.error);
      continue;
    }
    try {
      protocol().datagram_received(std::string_view(arena_ + r.offset, r.len), address_of(r));
    } catch (...) {
      report_callback_error(core(), std::current_exception());
    }
  }
  records_.clear();
  tail_ = 0;
}

namespace {

/// The set of `addr` among `sets` (a power of two): a multiplicative hash
/// of its first 16 bytes (an IPv4 sockaddr whole; an IPv6 one's family,
/// port and start of address).
std::size_t sender_set(const sockaddr_storage& addr, std::size_t sets) noexcept {
  std::uint64_t w[2];
  std::memcpy(w, &addr, sizeof w);
  const std::uint64_t h = (w[0] ^ (w[1] * 0x9E3779B97F4A7C15u)) * 0xD6E8FEB86659FD93u;
  return static_cast<std::size_t>(h >> 32) & (sets - 1);
}

/// The set of `addr` among `sets` (a power of two), by its port, length
/// and last characters: a server's clients differ in port, and often
/// share a host.
std::size_t address_set(const SocketAddress& addr, std::size_t sets) noexcept {
  std::uint64_t tail = 0;
  const std::size_t n = addr.host.size() < sizeof tail ? addr.host.size() : sizeof tail;
  std::memcpy(&tail, addr.host.data() + addr.host.size() - n, n);
  const std::uint64_t key = tail ^ (static_cast<std::uint64_t>(addr.port) << 8 | addr.host.size());
  return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15u) >> 40) & (sets - 1);
}

/// a == b, the field that tells a server's clients apart (the port) first.
[[gnu::always_inline]] inline bool same_address(const SocketAddress& a, const SocketAddress& b) noexcept {
  return a.port == b.port && a.family == b.family && a.host == b.host && a.flowinfo == b.flowinfo &&
         a.scope_id == b.scope_id;
}

/// memcmp(a, b, len) == 0, with the IPv4 case (16 bytes) inline.
bool same_sockaddr(const sockaddr_storage& a, const sockaddr_storage& b, socklen_t len) noexcept {
  if (len == sizeof(sockaddr_in)) {
    std::uint64_t x[2], y[2];
    std::memcpy(x, &a, sizeof x);
    std::memcpy(y, &b, sizeof y);
    return x[0] == y[0] && x[1] == y[1];
  }
  return std::memcmp(&a, &b, len) == 0;
}

}  // namespace

DatagramTransportImpl::Sender* DatagramTransportImpl::cached_sender(const Record& r) noexcept {
  auto holds = [&r](const Sender& s) { return s.len == r.addrlen && same_sockaddr(s.addr, r.addr, r.addrlen); };
  if (r.addrlen > sizeof(sockaddr_in6)) [[unlikely]]
    return holds(unix_sender_) ? &unix_sender_ : nullptr;
  if (!senders_) [[unlikely]]
    return nullptr;
  Sender* ways = &senders_[sender_set(r.addr, sender_sets) * sender_ways];
  for (std::size_t w = 0; w < sender_ways; ++w)
    if (holds(ways[w])) return &ways[w];
  return nullptr;
}

const SocketAddress& DatagramTransportImpl::address_of(const Record& r) noexcept {
  if (Sender* s = cached_sender(r)) [[likely]] {
    last_sender_ = s;
    return s->address;
  }
  try {
    Sender& s = add_sender(r);
    last_sender_ = &s;
    return s.address;
  } catch (...) {
    static const SocketAddress none;
    last_sender_ = nullptr;
    return none;
  }
}

DatagramTransportImpl::Sender& DatagramTransportImpl::add_sender(const Record& r) {
  auto fill = [&r](Sender& s) -> Sender& {
    s.len = 0;  // while converting: a throw leaves it empty
    s.address = to_socket_address(reinterpret_cast<const sockaddr*>(&r.addr), r.addrlen);
    std::memcpy(&s.addr, &r.addr, r.addrlen);
    s.len = r.addrlen;
    return s;
  };
  if (r.addrlen > sizeof(sockaddr_in6)) return fill(unix_sender_);
  if (!senders_) {
    senders_ = std::make_unique<Sender[]>(sender_sets * sender_ways);
    by_address_ = std::make_unique<const Sender*[]>(sender_sets * sender_ways);
    victim_ = std::make_unique<std::uint8_t[]>(sender_sets);
  }
  // The set's ways are replaced in turn.
  const std::size_t set = sender_set(r.addr, sender_sets);
  Sender& s = fill(senders_[set * sender_ways + victim_[set]]);
  victim_[set] = static_cast<std::uint8_t>((victim_[set] + 1) % sender_ways);
  // Newest first in its address set; a way that pointed at `s` for its
  // previous address is only a miss later (find_sender compares).
  const Sender** set_of = &by_address_[address_set(s.address, sender_sets) * sender_ways];
  std::memmove(set_of + 1, set_of, (sender_ways - 1) * sizeof *set_of);
  set_of[0] = &s;
  return s;
}

const DatagramTransportImpl::Sender* DatagramTransportImpl::find_sender(const SocketAddress& addr,
                                                                         const Sender* hint) const noexcept {
  // The datagram being answered (a protocol's datagram_received passes
  // the sender's own address), then the hint, then the sets.
  if (const Sender* s = last_sender_; s && &addr == &s->address && s->len) return s;
  if (hint && hint->len && same_address(addr, hint->address)) return hint;
  return find_sender_in_sets(addr);
}

const DatagramTransportImpl::Sender* DatagramTransportImpl::find_sender_in_sets(const SocketAddress& addr) const noexcept {
  if (!by_address_) return nullptr;
  const Sender* const* ways = &by_address_[address_set(addr, sender_sets) * sender_ways];
  for (std::size_t w = 0; w < sender_ways; ++w)
    if (const Sender* s = ways[w]; s && s->len && same_address(addr, s->address)) return s;
  return nullptr;
}

void DatagramTransportImpl::error_received(int status) noexcept {
  try {
    protocol().error_received(make_os_error(status));
  } catch (...) {
    report_callback_error(core(), std::current_exception());
  }
}

// ---- sending -----------------------------------------------------------------

void DatagramTransportImpl::sendto(std::string_view data, const SocketAddress& addr, const Sender* hint) {
  // A sender the endpoint has heard from, as an echo answers it: its
  // sockaddr is at hand (IP only: a Unix address is sent with its exact
  // length, which the record does not keep).
  if (!remote_ && !connected_ && family_ != AF_UNIX)
    if (const Sender* known = find_sender(addr, hint))
      return send_to(data, reinterpret_cast<const sockaddr*>(&known->addr), known->len);
  sendto_address(data, addr);
}

void DatagramTransportImpl::sendto_address(std::string_view data, const SocketAddress& addr) {
  if (remote_) {
    // ≙ `addr not in (None, self._address)`; a family left 0 matches any.
    SocketAddress given = addr;
    if (!given.family) given.family = remote_->family;
    if (given != *remote_) throw std::invalid_argument("Invalid address: must be None or " + remote_->repr());
    return sendto(data);
  }
  if (connected_) return send_to(data, nullptr, 0);
  sockaddr_storage ss;
  socklen_t len = 0;
  if (family_ == AF_UNIX) {
    sockaddr_un un;
    len = unix_address(addr.host, un);
    std::memcpy(&ss, &un, len);
  } else if (!numeric_address(addr.host, checked_port(addr.port, "sendto"), family_, ss, len)) {
    // A name would need a DNS lookup, which sendto() must not block on.
    std::string message = "sendto(): '";
    message += addr.host;
    message += "' is not a numeric address of the socket's family";
    throw std::invalid_argument(message);
  } else if (family_ == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_flowinfo = htonl(addr.flowinfo);
    in6->sin6_scope_id = addr.scope_id;
  }
  send_to(data, reinterpret_cast<const sockaddr*>(&ss), len);
}

void DatagramTransportImpl::sendto(std::string_view data) {
  if (connected_) return send_to(data, nullptr, 0);
  if (!remote_) throw std::invalid_argument("sendto(): the endpoint has no remote address: give one");
  send_to(data, reinterpret_cast<const sockaddr*>(&remote_addr_.addr), remote_addr_.len);
}

void DatagramTransportImpl::send_to(std::string_view data, const sockaddr* addr, socklen_t len) {
  if (queued_sends_ == 0 && !conn_lost_ && !handle_closing()) [[likely]] {
    if (send_now(data, addr, len) >= 0) [[likely]] return;
  }
  send_other(data, addr, len);
}

void DatagramTransportImpl::send_other(std::string_view data, const sockaddr* addr, socklen_t len) {
  if (conn_lost_ || handle_closing()) {
    // ≙ CPython: dropped once the endpoint is lost (it logs a warning
    // after a few). A handle the loop closed has no descriptor any more:
    // fd_ may be another file's by now.
    ++conn_lost_;
    return;
  }
  if (queued_sends_ == 0) {
    // send_to's attempt failed: errno says why (EINTR: try again).
    int err = errno;
    while (err == EINTR) {
      if (send_now(data, addr, len) >= 0) return;
      err = errno;
    }
    if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS) return error_received(-err);
  }
  queue_send(data, addr, len);
}

void DatagramTransportImpl::queue_send(std::string_view data, const sockaddr* addr, socklen_t len) {
  auto* q = new QueuedSend;
  q->data.assign(data);
  if (addr) std::memcpy(&q->addr, addr, len);
  q->req.data = q;
  uv_buf_t buf = uv_buf_init(q->data.data(), static_cast<unsigned>(q->data.size()));
  if (int rc = uv_udp_send(&q->req, &h_, &buf, 1, addr ? reinterpret_cast<const sockaddr*>(&q->addr) : nullptr,
                           &on_send);
      rc < 0) {
    delete q;
    return error_received(rc);
  }
  ++queued_sends_;
  buffered_ += data.size() + header_size;
  maybe_pause_protocol();
}

void DatagramTransportImpl::on_send(uv_udp_send_t* req, int status) noexcept {
  auto* q = static_cast<QueuedSend*>(req->data);
  auto* t = static_cast<DatagramTransportImpl*>(of(reinterpret_cast<uv_handle_t*>(req->handle)));
  const std::size_t size = q->data.size() + header_size;
  delete q;
  --t->queued_sends_;
  if (status == UV_ECANCELED || t->conn_lost_) return;  // closed or aborted meanwhile
  t->buffered_ -= size;
  if (status < 0) {
    try {
      t->send_errors_.push_back(status);
      t->post(ev_send_error);
    } catch (...) {
    }
  }
  if ((t->protocol_paused_ && t->buffered_ <= t->low_) || (t->closing_ && t->buffered_ == 0)) t->post(ev_writable);
}

}  // namespace asyncio::detail
