// asyncio-cpp: SPDX-License-Identifier: MIT
// The awaitable datagram endpoint: a DatagramProtocol that queues what it
// receives for recvfrom() and holds the write flow control for sendto(),
// as streams.StreamReaderProtocol does for a stream (design-notes, "Datagram
// streams").
#include <asyncio/datagrams.hpp>
#include <asyncio/detail/flow_control.hpp>
#include <asyncio/detail/waiters.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/protocols.hpp>

#include "detail/datagram_transport.hpp"
#include "detail/uv_error.hpp"

#include <deque>

namespace asyncio::detail {

/// The protocol side: what came in, in order, and who waits for it.
class DatagramStreamProtocol final : public DatagramProtocol {
 public:
  explicit DatagramStreamProtocol(std::size_t limit) noexcept : limit_(limit ? limit : 1) {}

  void connection_made(DatagramTransport& t) override { impl_ = dynamic_cast<DatagramTransportImpl*>(&t); }
  void datagram_received(std::string_view data, const SocketAddress& addr) override {
    queue_.push_back(Entry{std::string(data), addr, nullptr});
    received();
  }
  void error_received(std::exception_ptr exc) override {
    queue_.push_back(Entry{{}, {}, exc});
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

  Coroutine<Datagram> recvfrom();
  Coroutine<> drain() { return flow_.drain(); }
  Coroutine<> wait_closed();

 private:
  struct Entry {
    std::string data;
    SocketAddress addr;
    std::exception_ptr error;
  };

  void received() {
    reader_.wake(1);
    if (queue_.size() >= limit_ && impl_) impl_->pause_receiving();
  }
  Datagram take();

  std::deque<Entry> queue_;
  WaiterList reader_;
  WaiterList closed_;
  FlowControl flow_;
  DatagramTransportImpl* impl_ = nullptr;  // null once lost
  std::exception_ptr lost_exc_;
  std::size_t limit_;
  bool lost_ = false;
};

Datagram DatagramStreamProtocol::take() {
  Entry e = std::move(queue_.front());
  queue_.pop_front();
  // Receiving again once half the queue is read: not once per datagram.
  if (impl_ && queue_.size() <= limit_ / 2) impl_->resume_receiving();
  if (e.error) std::rethrow_exception(e.error);
  return Datagram{std::move(e.data), std::move(e.addr)};
}

Coroutine<Datagram> DatagramStreamProtocol::recvfrom() {
  // A loop: a datagram this waiter was woken for may be taken by a
  // recvfrom() that ran before it resumed.
  while (queue_.empty() && !lost_) {
    if (!reader_.empty())
      throw RuntimeError("recvfrom() called while another coroutine is already waiting for incoming data");
    get_running_loop();  // RuntimeError outside a loop
    WaitEntry wait(reader_, tls.running);
    co_await wait;
  }
  if (queue_.empty()) std::rethrow_exception(lost_exc_ ? lost_exc_ : connection_lost_error());
  co_return take();
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

}  // namespace asyncio::detail

namespace asyncio {

Coroutine<Datagram> DatagramStream::recvfrom() const { return s_->protocol->recvfrom(); }

Coroutine<> DatagramStream::sendto(std::string_view data, const SocketAddress& addr) const {
  s_->transport->sendto(data, addr);
  return s_->protocol->drain();
}

Coroutine<> DatagramStream::sendto(std::string_view data) const {
  s_->transport->sendto(data);
  return s_->protocol->drain();
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

}  // namespace asyncio
