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

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace asyncio::detail {

namespace {

// Received datagrams wait here for the next pass. libuv's recvmmsg gives
// each datagram a 64 KiB slot, so the arena holds a batch of at least four
// (CPython's max_size is 256 KiB too); reading stops while less than one
// slot is free.
constexpr std::size_t arena_size = 256 * 1024;
constexpr std::size_t slot_size = 64 * 1024;
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
  const bool room = t->arena_ && arena_size - t->tail_ >= slot_size;
  buf->base = room ? t->arena_ + t->tail_ : nullptr;
  buf->len = room ? arena_size - t->tail_ : 0;
}

void DatagramTransportImpl::on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                                    unsigned) noexcept {
  DatagramTransportImpl* t = from(reinterpret_cast<uv_handle_t*>(h));
  // nread 0 without a sender: nothing more to read now (or the end of a
  // recvmmsg batch). 0 with a sender is an empty datagram.
  if (nread == 0 && !addr) return;
  // The arena is full (on_alloc): not an error, the read waits a pass.
  if (nread == UV_ENOBUFS && t->arena_) return;
  try {
    Record& r = t->records_.emplace_back();
    if (nread < 0) {
      r.error = static_cast<int>(nread);
      r.offset = r.len = 0;
      r.addrlen = 0;
    } else {
      r.error = 0;
      r.offset = static_cast<std::size_t>(buf->base - t->arena_);
      r.len = static_cast<std::size_t>(nread);
      t->tail_ = r.offset + r.len;
      r.addrlen = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6)
                  : addr->sa_family == AF_INET ? sizeof(sockaddr_in)
                                               : sizeof(sockaddr_un);
      std::memcpy(&r.addr, addr, r.addrlen);
    }
  } catch (...) {
    // Out of memory for the record: the datagram is dropped, as the
    // kernel drops what does not fit.
  }
  t->post(ev_received);
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

/// The slot of `addr` among `slots` (a power of two): a multiplicative
/// hash of its first 16 bytes (an IPv4 sockaddr whole; an IPv6 one's
/// family, port and start of address; a Unix path's start).
std::size_t sender_slot(const sockaddr_storage& addr, std::size_t slots) noexcept {
  std::uint64_t w[2];
  std::memcpy(w, &addr, sizeof w);
  const std::uint64_t h = (w[0] ^ (w[1] * 0x9E3779B97F4A7C15u)) * 0xD6E8FEB86659FD93u;
  return static_cast<std::size_t>(h >> 32) & (slots - 1);
}

/// The slot of `addr` among `slots` (a power of two), by its text and port.
std::size_t address_slot(const SocketAddress& addr, std::size_t slots) noexcept {
  std::uint64_t h = 1469598103934665603u ^ static_cast<std::uint64_t>(addr.port);
  for (char c : addr.host) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211u;
  return static_cast<std::size_t>(h >> 32) & (slots - 1);
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

const SocketAddress& DatagramTransportImpl::address_of(const Record& r) noexcept {
  static const SocketAddress none;
  try {
    if (!senders_) {
      senders_ = std::make_unique<Sender[]>(sender_slots);
      by_address_ = std::make_unique<const Sender*[]>(sender_slots);
    }
    const bool ip = r.addrlen <= sizeof(sockaddr_in6);
    Sender& s = ip ? senders_[sender_slot(r.addr, sender_slots)] : unix_sender_;
    if (s.len != r.addrlen || !same_sockaddr(s.addr, r.addr, r.addrlen)) {
      s.len = 0;  // while converting: a throw leaves the slot empty
      s.address = to_socket_address(reinterpret_cast<const sockaddr*>(&r.addr), r.addrlen);
      std::memcpy(&s.addr, &r.addr, r.addrlen);
      s.len = r.addrlen;
      if (ip) by_address_[address_slot(s.address, sender_slots)] = &s;
    }
    last_sender_ = &s;
    return s.address;
  } catch (...) {
    last_sender_ = nullptr;
    return none;
  }
}

const DatagramTransportImpl::Sender* DatagramTransportImpl::find_sender(const SocketAddress& addr) const noexcept {
  if (const Sender* last = last_sender_; last && (&addr == &last->address || addr == last->address)) return last;
  if (!by_address_) return nullptr;
  const Sender* s = by_address_[address_slot(addr, sender_slots)];
  return s && s->len && s->address == addr ? s : nullptr;
}

void DatagramTransportImpl::error_received(int status) noexcept {
  try {
    protocol().error_received(make_os_error(status));
  } catch (...) {
    report_callback_error(core(), std::current_exception());
  }
}

// ---- sending -----------------------------------------------------------------

void DatagramTransportImpl::sendto(std::string_view data, const SocketAddress& addr) {
  if (remote_) {
    // ≙ `addr not in (None, self._address)`; a family left 0 matches any.
    SocketAddress given = addr;
    if (!given.family) given.family = remote_->family;
    if (given != *remote_) throw std::invalid_argument("Invalid address: must be None or " + remote_->repr());
    return sendto(data);
  }
  if (connected_) return send_to(data, nullptr, 0);
  // A sender the endpoint has heard from, as an echo answers it: its
  // sockaddr is at hand (IP only: a Unix address is sent with its exact
  // length, which the record does not keep).
  if (family_ != AF_UNIX) {
    if (const Sender* known = find_sender(addr)) return send_to(data, reinterpret_cast<const sockaddr*>(&known->addr), known->len);
  }
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
  if (conn_lost_ || handle_closing()) {
    // ≙ CPython: dropped once the endpoint is lost (it logs a warning
    // after a few). A handle the loop closed has no descriptor any more:
    // fd_ may be another file's by now.
    ++conn_lost_;
    return;
  }
  if (queued_sends_ == 0) {
    ssize_t n;
    do {
      n = addr ? ::sendto(fd_, data.data(), data.size(), 0, addr, len) : ::send(fd_, data.data(), data.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) return error_received(-errno);
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
