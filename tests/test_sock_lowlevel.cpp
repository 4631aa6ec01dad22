// asyncio-cpp: SPDX-License-Identifier: MIT
// The sock_*() coroutines. Port of CPython's
// Lib/test/test_asyncio/test_sock_lowlevel.py; the HTTP server of its
// run_test_server() is our own start_server() on the same loop
// (sock_test::http_app), the UDP echo server a thread as there.
#include "sock_test.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

using asyncio::Coroutine;
using asyncio::EventLoop;
using asyncio::HostPort;
using asyncio::Socket;
using asyncio_test::holds;
using asyncio_test::raises;
using asyncio_test::what;
using net_test::NetLoop;
using sock_test::poll_handles;

namespace {

constexpr std::string_view request = "GET / HTTP/1.0\r\n\r\n";

/// ≙ _basetest_sock_client_ops: the errors for a blocking socket, then a
/// request and its answer.
Coroutine<> sock_client_ops(EventLoop& loop, Socket sock, HostPort address) {
  sock.setblocking(true);
  const int fd = sock.fileno();
  char buf[16];
  std::vector<std::exception_ptr> errors;
  errors.push_back(co_await raises(asyncio::sock_connect(loop, fd, address)));
  errors.push_back(co_await raises(asyncio::sock_sendall(loop, fd, request)));
  errors.push_back(co_await raises(asyncio::sock_recv(loop, fd, 1024)));
  errors.push_back(co_await raises(asyncio::sock_recv_into(loop, fd, std::span<char>(buf))));
  errors.push_back(co_await raises(asyncio::sock_accept(loop, fd)));
  for (const auto& e : errors) {
    EXPECT_TRUE(holds<std::invalid_argument>(e));
    EXPECT_EQ(what(e), "the socket must be non-blocking");
  }
  sock.setblocking(false);
  co_await asyncio::sock_connect(loop, fd, address);
  co_await asyncio::sock_sendall(loop, fd, request);
  std::string data = co_await asyncio::sock_recv(loop, fd, 1024);
  co_await asyncio::sock_recv(loop, fd, 1024);  // consume data
  EXPECT_TRUE(data.starts_with("HTTP/1.0 200 OK")) << data;
}

/// ≙ _basetest_sock_recv_into.
Coroutine<> sock_recv_into(EventLoop& loop, Socket sock, HostPort address) {
  sock.setblocking(false);
  const int fd = sock.fileno();
  co_await asyncio::sock_connect(loop, fd, address);
  co_await asyncio::sock_sendall(loop, fd, request);
  std::string data(1024, '\0');
  std::size_t nbytes = co_await asyncio::sock_recv_into(loop, fd, std::span<char>(data));
  co_await asyncio::sock_recv_into(loop, fd, std::span<char>(data).subspan(nbytes));  // consume data
  EXPECT_TRUE(data.starts_with("HTTP/1.0 200 OK")) << data;
  EXPECT_EQ(poll_handles(loop), 1);  // the server's listener only
}

Coroutine<> client_ops(NetLoop& t) {
  asyncio::Server httpd = co_await asyncio::start_server(sock_test::http_app, "127.0.0.1", 0);
  const HostPort address{"127.0.0.1", net_test::port_of(httpd)};
  co_await sock_client_ops(t.loop, Socket(), address);
  co_await sock_recv_into(t.loop, Socket(), address);
  co_await net_test::close_server(httpd);
}

Coroutine<> unix_client_ops(NetLoop& t) {
  const std::string path = net_test::unix_path("sockll");
  asyncio::Server httpd = co_await asyncio::start_unix_server(sock_test::http_app, path);
  const HostPort address{path};
  co_await sock_client_ops(t.loop, Socket(AF_UNIX), address);
  co_await sock_recv_into(t.loop, Socket(AF_UNIX), address);
  co_await net_test::close_server(httpd);
}

}  // namespace

TEST(SockLowLevel, test_sock_client_ops) { net_test::run_net(client_ops); }
TEST(SockLowLevel, test_unix_sock_client_ops) { net_test::run_net(unix_client_ops); }

namespace {

Coroutine<> recv_racing(EventLoop& loop, HostPort address) {
  Socket sock;
  sock.setblocking(false);
  const int fd = sock.fileno();
  co_await asyncio::sock_connect(loop, fd, address);
  asyncio::Task<std::string> task = loop.create_task(asyncio::sock_recv(loop, fd, 1024));
  co_await asyncio::sleep(0);
  task.cancel();
  asyncio::Task<> send = loop.create_task(asyncio::sock_sendall(loop, fd, request));
  std::string data = co_await asyncio::sock_recv(loop, fd, 1024);
  co_await asyncio::sock_recv(loop, fd, 1024);  // consume data
  EXPECT_TRUE(data.starts_with("HTTP/1.0 200 OK")) << data;
  co_await send;
  EXPECT_TRUE(task.cancelled());
}

Coroutine<> recv_into_racing(EventLoop& loop, HostPort address) {
  Socket sock;
  sock.setblocking(false);
  const int fd = sock.fileno();
  co_await asyncio::sock_connect(loop, fd, address);
  std::string data(1024, '\0');
  auto task = loop.create_task(asyncio::sock_recv_into(loop, fd, std::span<char>(data)));
  co_await asyncio::sleep(0);
  task.cancel();
  asyncio::Task<> send = loop.create_task(asyncio::sock_sendall(loop, fd, request));
  std::size_t nbytes = co_await asyncio::sock_recv_into(loop, fd, std::span<char>(data));
  co_await asyncio::sock_recv_into(loop, fd, std::span<char>(data).subspan(nbytes));
  EXPECT_TRUE(data.starts_with("HTTP/1.0 200 OK")) << data;
  co_await send;
}

Coroutine<std::string> recv_all(EventLoop& loop, int fd) {
  std::string rv;
  for (;;) {
    std::string buf = co_await asyncio::sock_recv(loop, fd, 8192);
    if (buf.empty()) co_return rv;
    for (char c : buf)
      if (c != ' ') rv += c;
  }
}

Coroutine<> send_racing(EventLoop& loop) {
  Socket listener;
  Socket sock;
  listener.bind("127.0.0.1", 0);
  listener.listen(1);
  // make connection
  const int size1k = 1024;
  ::setsockopt(sock.fileno(), SOL_SOCKET, SO_SNDBUF, &size1k, sizeof size1k);
  sock.setblocking(false);
  const int fd = sock.fileno();
  const auto la = listener.getsockname();
  asyncio::Task<> task = loop.create_task(asyncio::sock_connect(loop, fd, {la.host, la.port}));
  co_await asyncio::sleep(0);
  Socket server = Socket::from_fd(::accept4(listener.fileno(), nullptr, nullptr, SOCK_CLOEXEC));
  server.setblocking(false);
  co_await task;
  // fill the buffer until sending 5 chars would block
  for (std::size_t size = 8192; size >= 4; size /= 2) {
    const std::string spaces(size, ' ');
    while (::send(fd, spaces.data(), size, MSG_NOSIGNAL) >= 0) {
    }
    EXPECT_EQ(errno, EAGAIN);
  }
  // cancel a blocked sock_sendall
  task = loop.create_task(asyncio::sock_sendall(loop, fd, "hello"));
  co_await asyncio::sleep(0);
  task.cancel();
  // receive everything that is not a space
  asyncio::Task<std::string> received = loop.create_task(recv_all(loop, server.fileno()));
  // immediately make another sock_sendall call
  co_await asyncio::sock_sendall(loop, fd, "world");
  sock.shutdown(SHUT_WR);
  std::string data = co_await received;
  EXPECT_TRUE(data.ends_with("world")) << data;
  EXPECT_TRUE(task.cancelled());
}

Coroutine<> client_racing(NetLoop& t) {
  asyncio::Server httpd = co_await asyncio::start_server(sock_test::http_app, "127.0.0.1", 0);
  const HostPort address{"127.0.0.1", net_test::port_of(httpd)};
  co_await asyncio::wait_for(recv_racing(t.loop, address), 10);
  co_await asyncio::wait_for(recv_into_racing(t.loop, address), 10);
  co_await net_test::close_server(httpd);
  co_await asyncio::wait_for(send_racing(t.loop), 10);
  EXPECT_EQ(poll_handles(t.loop), 0);
}

// ≙ _basetest_sock_connect_racing: a cancelled connect, then retries.
Coroutine<> connect_racing(NetLoop& t) {
  Socket listener;
  Socket sock;
  listener.bind("127.0.0.1", 0);
  const auto la = listener.getsockname();
  const HostPort addr{la.host, la.port};
  sock.setblocking(false);
  asyncio::Task<> task = t.loop.create_task(asyncio::sock_connect(t.loop, sock.fileno(), addr));
  co_await asyncio::sleep(0);
  task.cancel();
  listener.listen(1);
  bool connected = false;
  std::string reason = "Max retries reached";
  for (int i = 0; i < 128 && !connected; ++i) {
    try {
      co_await asyncio::sock_connect(t.loop, sock.fileno(), addr);
      connected = true;
    } catch (const std::system_error& e) {
      reason = e.what();
      if (e.code() != std::errc::connection_refused) break;
    }
  }
  EXPECT_TRUE(connected) << reason;
  EXPECT_TRUE(task.cancelled());
  EXPECT_EQ(poll_handles(t.loop), 0);
}

}  // namespace

TEST(SockLowLevel, test_sock_client_racing) { net_test::run_net(client_racing); }
TEST(SockLowLevel, test_sock_client_connect_racing) { net_test::run_net(connect_racing); }

namespace {

constexpr std::size_t DATA_SIZE = 10'000'00;

/// The body of the /loop answer after the headers, checked against the
/// repeating "0123456789" as it arrives; `recv(into)` gives the next piece.
template <class Recv>
Coroutine<> check_huge_answer(Recv recv) {
  std::string data = co_await recv();
  EXPECT_TRUE(data.starts_with("HTTP/1.0 200 OK"));
  while (data.find("\r\n\r\n") == std::string::npos) data += co_await recv();
  data.erase(0, data.find("\r\n\r\n") + 4);
  std::size_t size = DATA_SIZE, at = 0;
  for (;;) {
    for (char c : data) {
      if (c != static_cast<char>('0' + at % 10)) {
        ADD_FAILURE() << "byte " << at << " differs";
        co_return;
      }
      ++at;
    }
    size -= data.size();
    data = co_await recv();
    if (data.empty()) break;
  }
  EXPECT_EQ(size, 0u);
}

struct HugeRecv {
  EventLoop* loop;
  int fd;
  Coroutine<std::string> operator()() const { return asyncio::sock_recv(*loop, fd, DATA_SIZE); }
};

struct HugeRecvInto {
  EventLoop* loop;
  int fd;
  std::string* buf;
  Coroutine<std::string> operator()() const { return into(*loop, fd, *buf); }
  static Coroutine<std::string> into(EventLoop& loop, int fd, std::string& buf) {
    const std::size_t n = co_await asyncio::sock_recv_into(loop, fd, std::span<char>(buf));
    co_return buf.substr(0, n);
  }
};

template <bool Into>
Coroutine<> huge_content(NetLoop& t) {
  asyncio::Server httpd = co_await asyncio::start_server(sock_test::http_app, "127.0.0.1", 0);
  Socket sock;
  sock.setblocking(false);
  const int fd = sock.fileno();
  std::string chunk;
  for (std::size_t i = 0; i < DATA_SIZE / 10; ++i) chunk += "0123456789";
  co_await asyncio::sock_connect(t.loop, fd, {"127.0.0.1", net_test::port_of(httpd)});
  const std::string head = "POST /loop HTTP/1.0\r\nContent-Length: " + std::to_string(DATA_SIZE) + "\r\n\r\n";
  co_await asyncio::sock_sendall(t.loop, fd, head);
  asyncio::Task<> task = t.loop.create_task(asyncio::sock_sendall(t.loop, fd, chunk));
  std::string buf(DATA_SIZE, '\0');
  if constexpr (Into)
    co_await check_huge_answer(HugeRecvInto{&t.loop, fd, &buf});
  else
    co_await check_huge_answer(HugeRecv{&t.loop, fd});
  co_await task;
  sock.close();
  co_await net_test::close_server(httpd);
}

}  // namespace

TEST(SockLowLevel, test_huge_content) { net_test::run_net(huge_content<false>); }
TEST(SockLowLevel, test_huge_content_recvinto) { net_test::run_net(huge_content<true>); }

namespace {

/// ≙ test_utils.run_udp_echo_server: a thread echoing datagrams until
/// "STOP".
class UdpEchoServer {
 public:
  UdpEchoServer() : sock_(AF_INET, SOCK_DGRAM) {
    sock_.bind("127.0.0.1", 0);
    address = sock_.getsockname();
    thread_ = std::thread([fd = sock_.fileno()] {
      char buf[4096];
      for (;;) {
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        const ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0 || std::string_view(buf, static_cast<std::size_t>(n)) == "STOP") return;
        ::sendto(fd, buf, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~UdpEchoServer() {
    Socket stop(AF_INET, SOCK_DGRAM);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(address.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::sendto(stop.fileno(), "STOP", 4, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    thread_.join();
  }
  asyncio::SocketAddress address;

 private:
  Socket sock_;
  std::thread thread_;
};

Coroutine<> datagram_recvfrom(NetLoop& t) {
  UdpEchoServer server;
  const std::string data(4096, '\x01');
  Socket sock(AF_INET, SOCK_DGRAM);
  sock.setblocking(false);
  co_await asyncio::sock_sendto(t.loop, sock.fileno(), data, {server.address.host, server.address.port});
  auto [received, from] = co_await asyncio::sock_recvfrom(t.loop, sock.fileno(), 4096);
  EXPECT_EQ(received, data);
  EXPECT_EQ(from, server.address);
}

Coroutine<> datagram_recvfrom_into(NetLoop& t) {
  UdpEchoServer server;
  const HostPort to{server.address.host, server.address.port};
  const std::string data(4096, '\x01');
  Socket sock(AF_INET, SOCK_DGRAM);
  sock.setblocking(false);
  std::string buf(4096, '\0');
  co_await asyncio::sock_sendto(t.loop, sock.fileno(), data, to);
  auto [num_bytes, from] = co_await asyncio::sock_recvfrom_into(t.loop, sock.fileno(), std::span<char>(buf));
  EXPECT_EQ(num_bytes, 4096u);
  EXPECT_EQ(buf, data);
  EXPECT_EQ(from, server.address);

  std::string big(8192, '\0');
  co_await asyncio::sock_sendto(t.loop, sock.fileno(), data, to);
  auto [n2, from2] = co_await asyncio::sock_recvfrom_into(t.loop, sock.fileno(), std::span<char>(big), 4096);
  EXPECT_EQ(n2, 4096u);
  EXPECT_EQ(big.substr(0, 4096), data);
  EXPECT_EQ(from2, server.address);
  auto e = co_await raises(asyncio::sock_recvfrom_into(t.loop, sock.fileno(), std::span<char>(buf), 4097));
  EXPECT_EQ(what(e), "nbytes is greater than the length of the buffer");
}

// ≙ _basetest_datagram_sendto_blocking, without a mock: the socket's send
// buffer is filled first, so that sock_sendto() must wait for room.
Coroutine<> datagram_sendto_blocking(NetLoop& t) {
  Socket a(AF_UNIX, SOCK_DGRAM);
  Socket b(AF_UNIX, SOCK_DGRAM);
  const std::string pa = net_test::unix_path("dga"), pb = net_test::unix_path("dgb");
  a.bind(pa);
  b.bind(pb);
  a.setblocking(false);
  b.setblocking(false);
  const std::string data(4096, '\x01');
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::memcpy(to.sun_path, pb.c_str(), pb.size() + 1);
  int queued = 0;
  while (::sendto(a.fileno(), data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) >= 0) ++queued;
  EXPECT_EQ(errno, EAGAIN);
  asyncio::Task<std::size_t> send = t.loop.create_task(asyncio::sock_sendto(t.loop, a.fileno(), "last", {pb}));
  co_await asyncio::sleep(0);
  EXPECT_FALSE(send.done());
  for (int i = 0; i < queued; ++i) {
    auto [d, from] = co_await asyncio::sock_recvfrom(t.loop, b.fileno(), 4096);
    EXPECT_EQ(d, data);
    EXPECT_EQ(from.host, pa);
  }
  EXPECT_EQ(co_await send, 4u);
  auto [last, from] = co_await asyncio::sock_recvfrom(t.loop, b.fileno(), 4096);
  EXPECT_EQ(last, "last");
  ::unlink(pa.c_str());
  ::unlink(pb.c_str());
}

}  // namespace

TEST(SockLowLevel, test_recvfrom) { net_test::run_net(datagram_recvfrom); }
TEST(SockLowLevel, test_recvfrom_into) { net_test::run_net(datagram_recvfrom_into); }
TEST(SockLowLevel, test_sendto_blocking) { net_test::run_net(datagram_sendto_blocking); }

namespace {

Coroutine<> client_fail(NetLoop& t) {
  // Make sure that we will get an unused port
  asyncio::SocketAddress address;
  {
    Socket s;
    s.bind("127.0.0.1", 0);
    address = s.getsockname();
  }
  Socket sock;
  sock.setblocking(false);
  auto e = co_await raises(asyncio::sock_connect(t.loop, sock.fileno(), {address.host, address.port}));
  EXPECT_TRUE(asyncio_test::has_errc(e, std::errc::connection_refused));
  EXPECT_EQ(what(e), "[Errno 111] Connect call failed " + address.repr());
  EXPECT_EQ(poll_handles(t.loop), 0);
}

Coroutine<> sock_accept(NetLoop& t) {
  Socket listener;
  listener.setblocking(false);
  listener.bind("127.0.0.1", 0);
  listener.listen(1);
  const int client = net_test::raw_connect(listener.getsockname().port);
  auto [conn, addr] = co_await asyncio::sock_accept(t.loop, listener.fileno());
  EXPECT_FALSE(conn.getblocking());  // ≙ conn.gettimeout() == 0
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(client, reinterpret_cast<sockaddr*>(&ss), &len);
  EXPECT_EQ(addr.port, ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port));
  EXPECT_EQ(addr.host, "127.0.0.1");
  ::close(client);
}

Coroutine<> cancel_sock_accept(NetLoop& t) {
  Socket listener;
  listener.setblocking(false);
  listener.bind("127.0.0.1", 0);
  listener.listen(1);
  const auto sockaddr = listener.getsockname();
  auto e = co_await raises(asyncio::wait_for(asyncio::sock_accept(t.loop, listener.fileno()), 0.1));
  EXPECT_TRUE(holds<asyncio::TimeoutError>(e));
  EXPECT_EQ(poll_handles(t.loop), 0);
  listener.close();
  Socket client;
  client.setblocking(false);
  e = co_await raises(asyncio::sock_connect(t.loop, client.fileno(), {sockaddr.host, sockaddr.port}));
  EXPECT_TRUE(asyncio_test::has_errc(e, std::errc::connection_refused));
}

struct MyProto : asyncio::Protocol {
  std::size_t nbytes = 0;
  asyncio::Future<> done = asyncio::get_running_loop().create_future();
  void connection_made(asyncio::Transport& transport) override {
    transport.write("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n");
  }
  void data_received(std::string_view data) override { nbytes += data.size(); }
  void connection_lost(std::exception_ptr) override { done.set_result(); }
};

Coroutine<> create_connection_sock(NetLoop& t) {
  asyncio::Server httpd = co_await asyncio::start_server(sock_test::http_app, "127.0.0.1", 0);
  auto infos = co_await asyncio::getaddrinfo(t.loop, "127.0.0.1", net_test::port_of(httpd), {.type = SOCK_STREAM});
  std::optional<Socket> sock;
  for (const auto& info : infos) {
    try {
      Socket s(info.family, info.type, info.proto);
      s.setblocking(false);
      co_await asyncio::sock_connect(t.loop, s.fileno(), {info.address.host, info.address.port});
      sock = std::move(s);
      break;
    } catch (const std::exception&) {
    }
  }
  CO_ASSERT_TRUE(sock.has_value());
  auto factory = [] { return std::make_shared<MyProto>(); };
  auto [tr, pr] = co_await asyncio::create_connection(t.loop, factory, asyncio::ConnectionOptions{.sock = sock->detach()});
  co_await pr->done;
  EXPECT_GT(pr->nbytes, 0u);
  tr->close();
  co_await net_test::close_server(httpd);
}

}  // namespace

TEST(SockLowLevel, test_sock_client_fail) { net_test::run_net(client_fail); }
TEST(SockLowLevel, test_sock_accept) { net_test::run_net(sock_accept); }
TEST(SockLowLevel, test_cancel_sock_accept) { net_test::run_net(cancel_sock_accept); }
TEST(SockLowLevel, test_create_connection_sock) { net_test::run_net(create_connection_sock); }

namespace {

// ≙ _basetest_datagram_send_to_non_listening_address (CPython runs it on
// the proactor loop only; the same holds here).
template <bool Into>
Coroutine<std::string> recvfrom(EventLoop& loop, int fd) {
  if constexpr (Into) {
    std::string buf(4096, '\0');
    auto [n, from] = co_await asyncio::sock_recvfrom_into(loop, fd, std::span<char>(buf), 4096);
    buf.resize(n);
    co_return buf;
  } else {
    auto [data, from] = co_await asyncio::sock_recvfrom(loop, fd, 4096);
    co_return data;
  }
}

template <bool Into>
Coroutine<> send_to_non_listening(NetLoop& t) {
  auto make = [] {
    Socket s(AF_INET, SOCK_DGRAM);
    s.setblocking(false);
    s.bind("127.0.0.1", 0);
    return s;
  };
  Socket socket_1 = make(), socket_2 = make();
  const auto a1 = socket_1.getsockname(), a2 = socket_2.getsockname();
  asyncio::SocketAddress a3;
  {
    Socket socket_3 = make();
    a3 = socket_3.getsockname();
  }
  auto t1 = t.loop.create_task(recvfrom<Into>(t.loop, socket_1.fileno()));
  auto t2 = t.loop.create_task(recvfrom<Into>(t.loop, socket_2.fileno()));
  co_await asyncio::sleep(0);
  co_await asyncio::sock_sendto(t.loop, socket_1.fileno(), "a", {a2.host, a2.port});
  EXPECT_EQ(co_await t2, "a");
  co_await asyncio::sock_sendto(t.loop, socket_2.fileno(), "b", {a1.host, a1.port});
  EXPECT_EQ(co_await t1, "b");
  t1 = t.loop.create_task(recvfrom<Into>(t.loop, socket_1.fileno()));
  co_await asyncio::sleep(0);
  // this sends to an address that isn't listening (Linux reports no
  // error on an unconnected UDP socket; the proactor gave b'')
  co_await asyncio::sock_sendto(t.loop, socket_1.fileno(), "c", {a3.host, a3.port});
  co_await asyncio::sleep(0.01);
  EXPECT_FALSE(t1.done());
  // socket 1 should still be able to receive messages after sending to an
  // address that wasn't listening
  co_await asyncio::sock_sendto(t.loop, socket_2.fileno(), "d", {a1.host, a1.port});
  EXPECT_EQ(co_await t1, "d");
}

}  // namespace

TEST(SockLowLevel, test_datagram_send_to_non_listening_address_recvfrom) {
  net_test::run_net(send_to_non_listening<false>);
}
TEST(SockLowLevel, test_datagram_send_to_non_listening_address_recvfrom_into) {
  net_test::run_net(send_to_non_listening<true>);
}

namespace {

Coroutine<> closed_descriptor(NetLoop& t) {
  auto e = co_await raises(asyncio::sock_recv(t.loop, 1000, 10));
  EXPECT_EQ(what(e), "[Errno 9] Bad file descriptor");
  co_await asyncio::sleep(0);
}

Coroutine<> concurrent_recv(NetLoop& t) {
  auto [a, b] = sock_test::socketpair();
  auto first = t.loop.create_task(asyncio::sock_recv(t.loop, a.fileno(), 10));
  co_await asyncio::sleep(0);
  auto e = co_await raises(asyncio::sock_recv(t.loop, a.fileno(), 10));
  EXPECT_EQ(what(e), "File descriptor " + std::to_string(a.fileno()) + " is already waited for by another coroutine");
  ::send(b.fileno(), "x", 1, 0);
  EXPECT_EQ(co_await first, "x");
  EXPECT_EQ(poll_handles(t.loop), 0);
}

}  // namespace

TEST(SockLowLevel, ClosedDescriptorIsOSError) { net_test::run_net(closed_descriptor); }
TEST(SockLowLevel, ConcurrentRecvIsAnError) { net_test::run_net(concurrent_recv); }
