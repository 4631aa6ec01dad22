// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the datagram transport over uv_udp_t (UDP, and Unix datagram
// sockets). ≙ selector_events._SelectorDatagramTransport.
#ifndef ASYNCIO_SRC_DETAIL_DATAGRAM_TRANSPORT_HPP
#define ASYNCIO_SRC_DETAIL_DATAGRAM_TRANSPORT_HPP

#include <asyncio/events.hpp>
#include <asyncio/transports.hpp>

#include "socket_transport.hpp"

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace asyncio::detail {

/// A datagram endpoint over a socket it owns.
///
/// Receiving: libuv reads (with recvmmsg batches on IP sockets) straight
/// into one reused arena; each datagram or receive error is recorded in
/// order, and run() hands them to the protocol during the next pass
/// (datagram_received / error_received). A full arena ends the read until
/// the protocol has been given what it holds.
///
/// Sending: sendto() tries the kernel at once (one system call, no copy);
/// what it refuses with EAGAIN is copied and queued to libuv, which sends
/// it in order as the socket drains; later datagrams queue behind it, so
/// none is reordered.
class DatagramTransportImpl final : public TransportOf<DatagramTransport, DatagramProtocol> {
  struct Tag {};

 public:
  /// The remote address of an endpoint made with one (≙ _address); the
  /// socket is connected to it unless allow_broadcast was given.
  struct Remote {
    sockaddr_storage addr;
    socklen_t len;
  };
  /// A transport for the datagram socket `fd` (owned from now on, closed
  /// on failure too).
  static std::shared_ptr<DatagramTransportImpl> make(EventLoop& loop, int fd, const Remote* remote);
  DatagramTransportImpl(Tag, EventLoop& loop);
  ~DatagramTransportImpl();

  /// Binds the protocol, calls connection_made() and starts receiving.
  void start(std::shared_ptr<DatagramProtocol> protocol);

  /// Stops / restarts receiving (the awaitable endpoint's back-pressure:
  /// while paused the kernel's socket buffer holds, then drops, what comes).
  void pause_receiving() noexcept {
    paused_ = true;
    update_reading();
  }
  void resume_receiving() noexcept {
    paused_ = false;
    update_reading();
  }

  /// A sender the endpoint heard from: its sockaddr and its text form.
  struct Sender {
    sockaddr_storage addr;
    socklen_t len = 0;
    SocketAddress address;
  };
  /// The sender of the datagram delivered last (null if its address could
  /// not be converted): during datagram_received(), that datagram's.
  const Sender* last_sender() const noexcept { return last_sender_; }

  // DatagramTransport
  void sendto(std::string_view data, const SocketAddress& addr) override { sendto(data, addr, nullptr); }
  void sendto(std::string_view data) override;
  /// sendto(data, addr), trying `hint` (a sender that last_sender() gave)
  /// first: an awaitable endpoint answers a datagram after it was queued,
  /// when last_sender() has moved on. A hint whose slot now holds another
  /// sender is only a miss.
  void sendto(std::string_view data, const SocketAddress& addr, const Sender* hint);

 private:
  enum : unsigned {
    ev_received = first_event,        ///< records to deliver
    ev_send_error = first_event << 1,  ///< a queued send failed
  };
  /// One received datagram (len >= 0, at `offset` in the arena) or receive
  /// error (`error` < 0).
  struct Record {
    Record() noexcept {}  // not zeroed: on_recv sets what is read
    std::size_t offset;
    std::size_t len;
    int error;
    socklen_t addrlen;
    sockaddr_storage addr;
  };
  struct QueuedSend;

  int open(int fd) noexcept;
  static DatagramTransportImpl* from(uv_handle_t* h) noexcept;
  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept;
  static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags) noexcept;
  static void on_send(uv_udp_send_t* req, int status) noexcept;
  void record(Record& r, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr) noexcept;
  /// on_recv() for what is not a datagram with room for its record.
  [[gnu::noinline]] void on_recv_other(ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                                       unsigned flags) noexcept;

  // SocketTransportBase
  void run(bool discard) noexcept override;
  void stop_reading() noexcept override { update_reading(); }
  void drop_buffer() noexcept override {}

  void update_reading() noexcept;
  void deliver() noexcept;
  /// The sender of `r` as a SocketAddress (an empty one if it cannot be
  /// converted); last_sender() is its Sender.
  const SocketAddress& address_of(const Record& r) noexcept;
  /// sendto(data, addr) for an address that is not a known sender's.
  [[gnu::noinline]] void sendto_address(std::string_view data, const SocketAddress& addr);
  /// One sendto(2) (send(2) without an address); errno on failure.
  ssize_t send_now(std::string_view data, const sockaddr* addr, socklen_t len) const noexcept {
    return addr ? ::sendto(fd_, data.data(), data.size(), 0, addr, len) : ::send(fd_, data.data(), data.size(), 0);
  }
  /// Sends at once if nothing is queued and the kernel takes it...
  void send_to(std::string_view data, const sockaddr* addr, socklen_t len);
  /// ... else drops it (lost), reports the error, or queues it.
  [[gnu::noinline]] void send_other(std::string_view data, const sockaddr* addr, socklen_t len);
  void queue_send(std::string_view data, const sockaddr* addr, socklen_t len);
  void error_received(int status) noexcept;
  void cache_addresses() noexcept;

  uv_udp_t h_;
  int family_ = AF_UNSPEC;
  std::optional<SocketAddress> remote_;  ///< ≙ _address
  Remote remote_addr_{};
  char* arena_ = nullptr;                ///< received datagrams, allocated on first read
  std::size_t tail_ = 0;                 ///< end of the last one in the arena
  /// recvmmsg batches (IP sockets; batch_ 0: one datagram per read): the
  /// slots the next read is to be given, those the last one was given, the
  /// datagrams it brought, and whether it came short (on_alloc).
  std::size_t batch_ = 0;
  std::size_t offered_ = 0;
  std::size_t received_ = 0;
  bool drained_ = false;
  std::size_t next_batch() noexcept;
  std::vector<Record> records_;
  std::vector<int> send_errors_;
  std::size_t queued_sends_ = 0;  ///< handed to uv_udp_send, not completed
  /// Senders converted to SocketAddress, by a hash of their sockaddr, in
  /// sets of `sender_ways` (a server's clients are converted once, not once
  /// per datagram, even when their hashes collide; a Unix sender is kept in
  /// unix_sender_, the last one only).
  static constexpr std::size_t sender_ways = 4;
  static constexpr std::size_t sender_sets = 64;
  std::unique_ptr<Sender[]> senders_;  ///< allocated with the first datagram
  /// The same senders by a hash of their SocketAddress (sets of as many
  /// ways, newest first), for sendto() to find a sockaddr without parsing
  /// the text.
  std::unique_ptr<const Sender*[]> by_address_;
  std::unique_ptr<std::uint8_t[]> victim_;  ///< per set: the way a miss replaces next
  Sender unix_sender_;
  /// The cached sender whose sockaddr is `r`'s, null if none.
  Sender* cached_sender(const Record& r) noexcept;
  /// Converts `r`'s sender into the cache, in place of an older one.
  [[gnu::noinline]] Sender& add_sender(const Record& r);
  /// The sender cached for `addr` (`hint` tried first), null if none.
  const Sender* find_sender(const SocketAddress& addr, const Sender* hint) const noexcept;
  [[gnu::noinline]] const Sender* find_sender_in_sets(const SocketAddress& addr) const noexcept;
  const Sender* last_sender_ = nullptr;  ///< the sender of the datagram being delivered
  int fd_ = -1;             ///< the socket, once opened
  bool connected_ = false;  ///< the socket has a peer: send() without an address
  bool reading_ = false;
  bool paused_ = false;  ///< pause_receiving()
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_DATAGRAM_TRANSPORT_HPP
