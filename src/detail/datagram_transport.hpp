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

  // DatagramTransport
  void sendto(std::string_view data, const SocketAddress& addr) override;
  void sendto(std::string_view data) override;

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

  // SocketTransportBase
  void run(bool discard) noexcept override;
  void stop_reading() noexcept override { update_reading(); }
  void drop_buffer() noexcept override {}

  void update_reading() noexcept;
  void deliver() noexcept;
  const SocketAddress& address_of(const Record& r) noexcept;
  void send_to(std::string_view data, const sockaddr* addr, socklen_t len);
  void queue_send(std::string_view data, const sockaddr* addr, socklen_t len);
  void error_received(int status) noexcept;
  void cache_addresses() noexcept;

  uv_udp_t h_;
  int family_ = AF_UNSPEC;
  std::optional<SocketAddress> remote_;  ///< ≙ _address
  Remote remote_addr_{};
  char* arena_ = nullptr;                ///< received datagrams, allocated on first read
  std::size_t tail_ = 0;                 ///< end of the last one in the arena
  std::vector<Record> records_;
  std::vector<int> send_errors_;
  std::size_t queued_sends_ = 0;  ///< handed to uv_udp_send, not completed
  /// Senders converted to SocketAddress, by a hash of their sockaddr: a
  /// server's clients are converted once, not once per datagram (IP
  /// senders; a Unix one is converted into unix_sender_ each time).
  struct Sender {
    sockaddr_storage addr;
    socklen_t len = 0;
    SocketAddress address;
  };
  static constexpr std::size_t sender_slots = 128;
  std::unique_ptr<Sender[]> senders_;  ///< allocated with the first datagram
  /// The same senders by a hash of their SocketAddress, for sendto() to
  /// find a sockaddr without parsing the text.
  std::unique_ptr<const Sender*[]> by_address_;
  Sender unix_sender_;
  /// The sender cached for `addr`, null if none.
  const Sender* find_sender(const SocketAddress& addr) const noexcept;
  const Sender* last_sender_ = nullptr;  ///< the sender of the datagram being delivered
  int fd_ = -1;             ///< the socket, once opened
  bool connected_ = false;  ///< the socket has a peer: send() without an address
  bool reading_ = false;
  bool paused_ = false;  ///< pause_receiving()
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_DATAGRAM_TRANSPORT_HPP
