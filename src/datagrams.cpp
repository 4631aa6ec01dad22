// asyncio-cpp: SPDX-License-Identifier: MIT
// The awaitable datagram endpoint: a DatagramProtocol that queues what it
// receives for recvfrom() and holds the write flow control for sendto(),
// as streams.StreamReaderProtocol does for a stream (design-notes, "Datagram
// streams").
#include <asyncio/datagrams.hpp>
#include <asyncio/detail/flow_control.hpp>
#include <asyncio/detail/queue_stores.hpp>
#include <asyncio/detail/waiters.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/protocols.hpp>

#include "detail/datagram_transport.hpp"
#include "detail/uv_error.hpp"

#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace asyncio::detail {

/// The protocol side: what came in, and who waits for it.
class DatagramStreamProtocol final : public DatagramProtocol {
 public:
  explicit DatagramStreamProtocol(std::size_t limit) noexcept : limit_(limit ? limit : 1) {}

  void connection_made(DatagramTransport& t) override { impl_ = dynamic_cast<DatagramTransportImpl*>(&t); }
  void datagram_received(std::string_view data, const SocketAddress& addr) override {
    queue_.emplace(std::string(data), addr, impl_ ? impl_->last_sender() : nullptr, nullptr);
    received();
  }
  void error_received(std::exception_ptr exc) override {
    queue_.emplace(std::string(), SocketAddress(), nullptr, exc);
    received();
  }
  void connection_lost(std::exception_ptr exc) override {
    lost_ = true;
    lost_exc_ = exc;
    impl_ = nullptr;
    reader_.wake(1);
    flow_.lost(exc);
    closed_.wake(closed_.size());
  }
  void pause_writing() override { flow_.pause(); }
  void resume_writing() override { flow_.resume(); }

  /// recvfrom() with no wait: a datagram (or an error) is queued.
  bool has_datagram() const noexcept { return !queue_.empty(); }
  /// Takes the first one (has_datagram()).
  Datagram take();
  /// recvfrom() that may wait; `keep` keeps the protocol alive meanwhile
  /// (a coroutine made for create_task(); an operation awaited in place
  /// needs none, the stream outliving it).
  static Coroutine<Datagram> recvfrom(DatagramStreamProtocol* self, std::shared_ptr<DatagramStreamProtocol> keep);

  /// DatagramStream::sendto: an answer to the datagram taken last finds
  /// its sender's sockaddr at once (DatagramTransportImpl::sendto's hint).
  void sendto(DatagramTransport& t, std::string_view data, const SocketAddress& addr) {
    if (impl_)
      impl_->sendto(data, addr, taken_sender_);
    else
      t.sendto(data, addr);
  }
  /// drain() with no wait: writing is not paused, the endpoint not lost.
  bool can_write() const noexcept { return !flow_.paused() && !flow_.is_lost(); }
  /// The wait of a sendto(); `keep` as for recvfrom().
  static Coroutine<> drain(DatagramStreamProtocol* self, std::shared_ptr<DatagramStreamProtocol> keep) {
    (void)keep;
    co_await self->flow_.drain();
  }
  Coroutine<> wait_closed();

 private:
  void received() {
    reader_.wake(1);
    if (queue_.size() >= limit_ && impl_) impl_->pause_receiving();
  }
  /// Receiving again once half the queue is read: not once per datagram.
  void resume_if_below_half() noexcept {
    if (impl_ && queue_.size() <= limit_ / 2) impl_->resume_receiving();
  }

  /// What came in and is not read yet, in order (each datagram, or an
  /// error_received() error in its place).
  struct Entry {
    std::string data;
    SocketAddress addr;
    const DatagramTransportImpl::Sender* sender;
    std::exception_ptr error;
  };
  FifoStore<Entry> queue_;
  WaiterList reader_;
  WaiterList closed_;
  FlowControl flow_;
  DatagramTransportImpl* impl_ = nullptr;  // null once lost
  const DatagramTransportImpl::Sender* taken_sender_ = nullptr;  ///< of the datagram taken last
  std::exception_ptr lost_exc_;
  std::size_t limit_;
  bool lost_ = false;
};

Datagram DatagramStreamProtocol::take() {
  Entry e = queue_.pop();
  resume_if_below_half();
  if (e.error) std::rethrow_exception(e.error);
  taken_sender_ = e.sender;
  return Datagram(std::move(e.data), std::move(e.addr));
}

Coroutine<Datagram> DatagramStreamProtocol::recvfrom(DatagramStreamProtocol* self,
                                                     std::shared_ptr<DatagramStreamProtocol> keep) {
  (void)keep;
  DatagramStreamProtocol& p = *self;
  // A loop: a datagram this waiter was woken for may be taken by a
  // recvfrom() that ran before it resumed.
  while (p.queue_.empty() && !p.lost_) {
    if (!p.reader_.empty())
      throw RuntimeError("recvfrom() called while another coroutine is already waiting for incoming data");
    get_running_loop();  // RuntimeError outside a loop
    WaitEntry wait(p.reader_, tls.running);
    co_await wait;
  }
  if (p.queue_.empty()) std::rethrow_exception(p.lost_exc_ ? p.lost_exc_ : connection_lost_error());
  co_return p.take();
}

Coroutine<> DatagramStreamProtocol::wait_closed() {
  if (lost_) co_return;
  get_running_loop();
  WaitEntry wait(closed_, tls.running);
  co_await wait;
}

/// What the DatagramStream handles share; the last one closes the endpoint.
class DatagramStreamState {
 public:
  DatagramStreamState(std::shared_ptr<DatagramTransport> t, std::shared_ptr<DatagramStreamProtocol> p) noexcept
      : transport(std::move(t)), protocol(std::move(p)) {}
  DatagramStreamState(const DatagramStreamState&) = delete;
  DatagramStreamState& operator=(const DatagramStreamState&) = delete;
  ~DatagramStreamState() {
    if (!transport->is_closing()) transport->close();
  }
  std::shared_ptr<DatagramTransport> transport;
  std::shared_ptr<DatagramStreamProtocol> protocol;
};

// The operations: nothing but a call while no wait is needed; the
// coroutines above otherwise (design-notes, "Datagram streams").
bool receive_ready(const DatagramStreamState* s) noexcept { return s->protocol->has_datagram(); }
Datagram receive_now(DatagramStreamState* s) { return s->protocol->take(); }
Coroutine<Datagram> receive_waiting(DatagramStreamState* s, bool keep) {
  return DatagramStreamProtocol::recvfrom(s->protocol.get(), keep ? s->protocol : nullptr);
}
bool send_ready(const DatagramStreamState* s) noexcept { return s->protocol->can_write(); }
Coroutine<> send_waiting(DatagramStreamState* s, bool keep) {
  return DatagramStreamProtocol::drain(s->protocol.get(), keep ? s->protocol : nullptr);
}

}  // namespace asyncio::detail

namespace asyncio {

detail::DatagramOp<Datagram> DatagramStream::recvfrom() const { return detail::DatagramOp<Datagram>(s_.get()); }

detail::DatagramOp<void> DatagramStream::sendto(std::string_view data, const SocketAddress& addr) const {
  s_->protocol->sendto(*s_->transport, data, addr);
  return detail::DatagramOp<void>(s_.get());
}

detail::DatagramOp<void> DatagramStream::sendto(std::string_view data) const {
  s_->transport->sendto(data);
  return detail::DatagramOp<void>(s_.get());
}

void DatagramStream::close() const { s_->transport->close(); }
Coroutine<> DatagramStream::wait_closed() const { return s_->protocol->wait_closed(); }
bool DatagramStream::is_closing() const { return s_->transport->is_closing(); }
std::any DatagramStream::get_extra_info(std::string_view name, std::any default_value) const {
  return s_->transport->get_extra_info(name, std::move(default_value));
}
const std::shared_ptr<DatagramTransport>& DatagramStream::transport() const { return s_->transport; }

Coroutine<DatagramStream> open_datagram_endpoint(DatagramOptions options) {
  auto protocol = std::make_shared<detail::DatagramStreamProtocol>(options.limit);
  auto factory = [protocol] { return protocol; };
  auto [transport, p] = co_await create_datagram_endpoint(get_running_loop(), factory, options);
  co_return DatagramStream(std::make_shared<detail::DatagramStreamState>(std::move(transport), std::move(protocol)));
}

AsyncGenerator<Datagram> aiter(DatagramStream stream) {
  while (true) {
    std::optional<Datagram> d;
    try {
      d.emplace(co_await stream.recvfrom());
    } catch (const std::system_error&) {
      if (!stream.is_closing()) throw;  // lost, or a socket error: the caller's
    }
    if (!d) break;  // closed by close(), queue drained
    co_yield std::move(*d);
  }
}

}  // namespace asyncio
