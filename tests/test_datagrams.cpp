// asyncio-cpp: SPDX-License-Identifier: MIT
// The awaitable datagram endpoint (DatagramStream, open_datagram_endpoint):
// beyond CPython, so its rules are CPython's datagram rules seen through
// recvfrom() / sendto(), tested on real loopback and Unix sockets.
#include <asyncio/datagrams.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/tasks.hpp>

#include "net_test.hpp"

#include <gtest/gtest.h>

#include <exception>
#include <optional>
#include <string>
#include <vector>

using namespace asyncio;
using asyncio_test::raises;
using asyncio_test::what;
using net_test::run_net;

namespace {

SocketAddress sockname(const DatagramStream& s) { return std::any_cast<SocketAddress>(s.get_extra_info("sockname")); }

/// Echoes every datagram back to its sender until the endpoint closes.
Coroutine<> echo(DatagramStream server) {
  try {
    for (;;) {
      Datagram d = co_await server.recvfrom();
      co_await server.sendto(d.first, d.second);
    }
  } catch (const std::system_error&) {
    // closed
  }
}

template <class Pred>
Coroutine<bool> run_until(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) co_await sleep(0.001);
  co_return pred();
}

}  // namespace

TEST(DatagramStream, EchoRoundTrips) {
  run_net([](auto&) -> Coroutine<> {
    DatagramStream server = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    const SocketAddress addr = sockname(server);
    Task<> echoing = create_task(echo(server));
    DatagramStream client = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", addr.port}});
    for (int i = 0; i < 100; ++i) {
      const std::string message = "datagram " + std::to_string(i);
      co_await client.sendto(message);
      Datagram d = co_await client.recvfrom();
      CO_ASSERT_EQ(d.first, message);
      EXPECT_EQ(d.second, addr);
    }
    client.close();
    co_await client.wait_closed();
    server.close();
    co_await echoing;
  });
}

TEST(DatagramStream, TenThousandDatagramsInOrderWithAWindow) {
  // 10,000 datagrams, 32 in flight: none lost, none reordered.
  run_net([](auto&) -> Coroutine<> {
    DatagramStream server = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    Task<> echoing = create_task(echo(server));
    DatagramStream client = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", sockname(server).port}});
    constexpr int total = 10000, window = 32;
    int sent = 0;
    for (; sent < window; ++sent) co_await client.sendto(std::to_string(sent));
    for (int got = 0; got < total; ++got) {
      Datagram d = co_await client.recvfrom();
      CO_ASSERT_EQ(d.first, std::to_string(got));
      if (sent < total) co_await client.sendto(std::to_string(sent++));
    }
    client.close();
    server.close();
    co_await echoing;
  });
}

TEST(DatagramStream, ErrorReceivedIsThrownByRecvfrom) {
  // ≙ test_datagram_send_to_non_listening_address: the ICMP error of a
  // connected socket comes out of recvfrom(), and the endpoint goes on.
  run_net([](auto&) -> Coroutine<> {
    DatagramStream probe = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    const int port = sockname(probe).port;
    probe.close();
    co_await probe.wait_closed();
    DatagramStream client = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", port}});
    co_await client.sendto("hello");
    auto e = co_await raises(client.recvfrom());
    EXPECT_TRUE(asyncio_test::has_errc(e, std::errc::connection_refused)) << asyncio_test::what(e);
    EXPECT_FALSE(client.is_closing());
    client.close();
  });
}

TEST(DatagramStream, SecondReaderIsRefused) {
  run_net([](auto&) -> Coroutine<> {
    DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    Task<Datagram> first = create_task(s.recvfrom());
    co_await sleep(0);
    auto e = co_await raises(s.recvfrom());
    EXPECT_EXC(e, RuntimeError, "recvfrom() called while another coroutine is already waiting for incoming data");
    first.cancel();
    e = co_await raises(first);
    EXPECT_TRUE(asyncio_test::holds<CancelledError>(e));
    s.close();
  });
}

TEST(DatagramStream, CancelledRecvfromTakesNothing) {
  run_net([](auto&) -> Coroutine<> {
    DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    DatagramStream peer = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", sockname(s).port}});
    Task<Datagram> waiting = create_task(s.recvfrom());
    co_await sleep(0);
    waiting.cancel();
    auto e = co_await raises(waiting);
    EXPECT_TRUE(asyncio_test::holds<CancelledError>(e));
    co_await peer.sendto("one");
    Datagram d = co_await s.recvfrom();
    EXPECT_EQ(d.first, "one");
    s.close();
    peer.close();
  });
}

/// Receives one datagram into `*out`, awaiting recvfrom() in place.
Coroutine<> receive_into(DatagramStream s, std::string* out) {
  Datagram d = co_await s.recvfrom();
  *out = d.first;
}

TEST(DatagramStream, CancelledInPlaceRecvfromTakesNothing) {
  // As above, with recvfrom() awaited in place (the operation, no task of
  // its own): its wait ends with the task's cancellation, and leaves no
  // waiter that would take the next datagram.
  run_net([](auto&) -> Coroutine<> {
    DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    DatagramStream peer = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", sockname(s).port}});
    std::string got = "nothing";
    Task<> reader = create_task(receive_into(s, &got));
    co_await sleep(0);
    reader.cancel();
    auto e = co_await raises(reader);
    EXPECT_TRUE(asyncio_test::holds<CancelledError>(e));
    co_await peer.sendto("one");
    Datagram d = co_await s.recvfrom();
    EXPECT_EQ(d.first, "one");
    EXPECT_EQ(got, "nothing");
    s.close();
    peer.close();
  });
}

TEST(DatagramStream, QueuedDatagramsOutliveCloseThenConnectionLost) {
  run_net([](auto&) -> Coroutine<> {
    DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    DatagramStream peer = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", sockname(s).port}});
    co_await peer.sendto("a");
    co_await peer.sendto("b");
    // Both queued (the first recvfrom() would wait otherwise).
    Datagram a = co_await s.recvfrom();
    EXPECT_EQ(a.first, "a");
    co_await sleep(0.01);
    s.close();
    co_await s.wait_closed();
    Datagram b = co_await s.recvfrom();
    EXPECT_EQ(b.first, "b");
    auto e = co_await raises(s.recvfrom());
    EXPECT_EXC(e, std::system_error, "Connection lost");
    // A send after the close is dropped (as CPython's sendto() does once
    // the connection is lost); its wait reports the loss.
    e = co_await raises(s.sendto("x", sockname(peer)));
    EXPECT_EXC(e, std::system_error, "Connection lost");
    peer.close();
  });
}

TEST(DatagramStream, AnOperationIsAwaitedOnce) {
  // recvfrom() and sendto() give operations (no coroutine frame unless
  // they wait): awaited twice, the second await raises as a coroutine's.
  run_net([](auto&) -> Coroutine<> {
    DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    DatagramStream peer = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", sockname(s).port}});
    auto send = peer.sendto("one");
    co_await send;
    std::exception_ptr again;
    try {
      co_await send;
    } catch (...) {
      again = std::current_exception();
    }
    EXPECT_EXC(again, RuntimeError, "cannot reuse already awaited coroutine");
    auto receive = s.recvfrom();
    Datagram d = co_await receive;
    EXPECT_EQ(d.first, "one");
    again = nullptr;
    try {
      co_await receive;
    } catch (...) {
      again = std::current_exception();
    }
    EXPECT_EXC(again, RuntimeError, "cannot reuse already awaited coroutine");
    s.close();
    peer.close();
  });
}

TEST(DatagramStream, RecvfromTaskOutlivesTheStream) {
  // A recvfrom() made into a task holds the endpoint: the task may outlive
  // every DatagramStream handle, whose going closes the endpoint, and it
  // then gets "Connection lost" (ASan: nothing freed under it).
  run_net([](auto&) -> Coroutine<> {
    std::optional<Task<Datagram>> waiting;
    {
      DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
      waiting.emplace(create_task(s.recvfrom()));
      co_await sleep(0);  // it waits
    }
    auto e = co_await raises(*waiting);
    EXPECT_EXC(e, std::system_error, "Connection lost");
  });
}

TEST(DatagramStream, BurstsOfEverySizeArriveWholeAndInOrder) {
  // The endpoint reads in recvmmsg batches that grow with the traffic and
  // shrink when it slows, ending a read after a short batch: bursts of 1 to
  // 34 datagrams, each read whole before the next, lose and reorder
  // nothing, and a lone datagram after a burst is not left unread.
  run_net([](auto&) -> Coroutine<> {
    DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    DatagramStream peer = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", sockname(s).port}});
    int next = 0;
    for (int n : {1, 2, 3, 5, 8, 13, 21, 34, 1, 34, 1, 1, 21, 2}) {
      const int first = next;
      for (int i = 0; i < n; ++i) co_await peer.sendto(std::to_string(next++));
      for (int i = first; i < next; ++i) {
        Datagram d = co_await s.recvfrom();
        CO_ASSERT_EQ(d.first, std::to_string(i));
      }
    }
    s.close();
    peer.close();
  });
}

TEST(DatagramStream, LimitPausesReceivingAndLosesNothing) {
  // limit = 4: the endpoint stops receiving with 4 queued; the rest waits
  // in the kernel's buffer and comes once recvfrom() has taken some.
  run_net([](auto&) -> Coroutine<> {
    DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}, .limit = 4});
    DatagramStream peer = co_await open_datagram_endpoint({.remote_addr = {"127.0.0.1", sockname(s).port}});
    for (int i = 0; i < 100; ++i) co_await peer.sendto(std::to_string(i));
    co_await sleep(0.02);
    for (int i = 0; i < 100; ++i) {
      Datagram d = co_await s.recvfrom();
      CO_ASSERT_EQ(d.first, std::to_string(i));
    }
    s.close();
    peer.close();
  });
}

namespace {

Coroutine<> write_numbered(DatagramStream out, int total) {
  const std::string payload(1000, 'x');
  for (int i = 0; i < total; ++i) co_await out.sendto(std::to_string(i) + ":" + payload);
}

/// How many of `total` numbered datagrams arrived in order on `fd`.
Coroutine<int> read_numbered(int fd, int total) {
  DatagramStream in = co_await open_datagram_endpoint({.sock = fd});
  int n = 0;
  for (; n < total; ++n) {
    Datagram d = co_await in.recvfrom();
    if (d.first.substr(0, d.first.find(':')) != std::to_string(n)) break;
  }
  in.close();
  co_return n;
}

}  // namespace

TEST(DatagramStream, SendtoWaitsWhileTheBufferIsFull) {
  // A Unix datagram socket pair has flow control (EAGAIN once the peer's
  // queue is full): sendto() then waits until the peer has read enough.
  run_net([](auto&) -> Coroutine<> {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    DatagramStream a = co_await open_datagram_endpoint({.sock = sv[0]});
    a.transport()->set_write_buffer_limits(4096);
    constexpr int total = 2000;
    Task<> writer = create_task(write_numbered(a, total));
    co_await sleep(0.01);
    EXPECT_FALSE(writer.done());  // waiting: nobody reads yet
    EXPECT_GT(a.transport()->get_write_buffer_size(), 4096u);
    EXPECT_EQ(co_await read_numbered(sv[1], total), total);
    co_await writer;
    EXPECT_EQ(a.transport()->get_write_buffer_size(), 0u);
    a.close();
    co_await a.wait_closed();
  });
}

TEST(DatagramStream, LastHandleClosesTheEndpoint) {
  run_net([](auto&) -> Coroutine<> {
    int fd;
    {
      DatagramStream s = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
      fd = std::any_cast<TransportSocket>(s.get_extra_info("socket")).fileno();
      EXPECT_GE(fd, 0);
    }
    EXPECT_TRUE(co_await run_until([fd] { return ::fcntl(fd, F_GETFD) == -1; }));  // closed
  });
}

TEST(DatagramStream, OpenErrorsAreCreateDatagramEndpoints) {
  run_net([](auto&) -> Coroutine<> {
    auto e = co_await raises(open_datagram_endpoint({}));
    EXPECT_EXC(e, std::invalid_argument, "unexpected address family");
  });
}

TEST(DatagramStream, UnixDatagramEndpoints) {
  run_net([](auto&) -> Coroutine<> {
    const std::string path = net_test::unix_path("dgram-stream");
    ::unlink(path.c_str());
    DatagramStream server = co_await open_datagram_endpoint({.local_addr = {path}, .family = AF_UNIX});
    const std::string client_path = path + ".c";
    ::unlink(client_path.c_str());
    DatagramStream client =
        co_await open_datagram_endpoint({.local_addr = {client_path}, .remote_addr = {path}, .family = AF_UNIX});
    co_await client.sendto("ping");
    Datagram d = co_await server.recvfrom();
    EXPECT_EQ(d.first, "ping");
    EXPECT_EQ(d.second.host, client_path);
    co_await server.sendto("pong", d.second);
    Datagram back = co_await client.recvfrom();
    EXPECT_EQ(back.first, "pong");
    client.close();
    server.close();
    ::unlink(path.c_str());
    ::unlink(client_path.c_str());
  });
}

TEST(DatagramStream, RepliesReachTheirSendersAmongMany) {
  // 300 clients (more than the endpoint's sender cache holds, so ways are
  // shared and replaced): each reply goes to the client that sent it.
  run_net([](auto&) -> Coroutine<> {
    DatagramStream server = co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}});
    Task<> echoing = create_task(echo(server));
    const int port = sockname(server).port;
    std::vector<DatagramStream> clients;
    for (int i = 0; i < 300; ++i) clients.push_back(co_await open_datagram_endpoint({.local_addr = {"127.0.0.1", 0}}));
    const SocketAddress to{AF_INET, "127.0.0.1", port};
    // In groups of 50: the sends do not wait, and the server's socket
    // buffer (which drops what does not fit, as UDP does) holds a group.
    constexpr std::size_t group = 50;
    for (int round = 0; round < 3; ++round) {
      for (std::size_t first = 0; first < clients.size(); first += group) {
        for (std::size_t i = first; i < first + group; ++i) co_await clients[i].sendto(std::to_string(i), to);
        for (std::size_t i = first; i < first + group; ++i) {
          Datagram d = co_await clients[i].recvfrom();
          CO_ASSERT_EQ(d.first, std::to_string(i));
        }
      }
    }
    for (DatagramStream& c : clients) c.close();
    server.close();
    co_await echoing;
  });
}
