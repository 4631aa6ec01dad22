// asyncio-cpp: SPDX-License-Identifier: MIT
// Transports over descriptors made elsewhere: `sock=`, connect_accepted_socket,
// connect_read_pipe / connect_write_pipe. CPython's tests (test_events.py,
// test_base_events.py, test_unix_events.py, test_streams.py), named after them.
#include <asyncio/base_events.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/streams.hpp>

#include "net_test.hpp"

#include <gtest/gtest.h>

#include <string>

#include <sys/un.h>
#include <termios.h>

using namespace asyncio;
using asyncio_test::raises;
using asyncio_test::what;
using net_test::run_net;

namespace {

/// ≙ test_events.MyProto / MyReadPipeProto: records what it is told.
struct Recorder : Protocol {
  Transport* transport = nullptr;
  std::string data;
  bool eof = false;
  bool lost = false;
  std::exception_ptr lost_exc;
  Future<> done = get_running_loop().create_future();
  void connection_made(Transport& t) override { transport = &t; }
  void data_received(std::string_view d) override { data += d; }
  bool eof_received() override {
    eof = true;
    return true;  // a read pipe closes anyway
  }
  void connection_lost(std::exception_ptr exc) override {
    lost = true;
    lost_exc = exc;
    if (!done.done()) done.set_result();
  }
};

std::shared_ptr<Recorder> recorder() { return std::make_shared<Recorder>(); }

template <class Pred>
Coroutine<bool> run_until(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) co_await sleep(0.001);
  co_return pred();
}

bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST(Adopt, test_create_connection_sock) {
  run_net([](auto&) -> Coroutine<> {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    auto [t, p] = co_await create_connection(get_running_loop(), recorder, {.sock = sv[0]});
    EXPECT_EQ(p->transport, t.get());
    t->write("hello");
    char buf[16] = {};
    for (int i = 0; i < 100 && ::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) <= 0; ++i) co_await sleep(0.001);
    EXPECT_STREQ(buf, "hello");
    EXPECT_EQ(::send(sv[1], "world", 5, 0), 5);
    EXPECT_TRUE(co_await run_until([&] { return p->data == "world"; }));
    t->close();
    co_await p->done;
    EXPECT_FALSE(fd_open(sv[0]));  // the transport owned it
    ::close(sv[1]);
  });
}

TEST(Adopt, test_create_connection_host_port_sock) {
  run_net([](auto&) -> Coroutine<> {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    auto e = co_await raises(create_connection(get_running_loop(), recorder, "127.0.0.1", 80, {.sock = sv[0]}));
    EXPECT_EXC(e, std::invalid_argument, "host/port and sock can not be specified at the same time");
    e = co_await raises(create_connection(get_running_loop(), recorder, ConnectionOptions{}));
    EXPECT_EXC(e, std::invalid_argument, "host and port was not specified and no sock specified");
    ::close(sv[0]);
    ::close(sv[1]);
  });
}

TEST(Adopt, test_create_connection_wrong_sock) {
  run_net([](auto&) -> Coroutine<> {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto e = co_await raises(create_connection(get_running_loop(), recorder, {.sock = fd}));
    EXPECT_EQ(what(e).rfind("A Stream Socket was expected, got <", 0), 0u) << what(e);
    EXPECT_TRUE(fd_open(fd));  // still the caller's
    ::close(fd);
  });
}

TEST(Adopt, test_create_unix_connection_nopath_nosock) {
  run_net([](auto&) -> Coroutine<> {
    auto e = co_await raises(create_unix_connection(get_running_loop(), recorder, ConnectionOptions{}));
    EXPECT_EXC(e, std::invalid_argument, "no path and sock were specified");
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    e = co_await raises(create_unix_connection(get_running_loop(), recorder, {.sock = fd}));
    EXPECT_EQ(what(e).rfind("A UNIX Domain Stream Socket was expected, got <", 0), 0u) << what(e);
    ::close(fd);
  });
}

TEST(Adopt, test_create_server_sock) {
  // An inherited listener: bound here, served by create_server(sock=).
  run_net([](auto&) -> Coroutine<> {
    int port = 0;
    const int fd = net_test::raw_listener(port);
    Server server = co_await start_server(
        [](StreamReader r, StreamWriter w) -> Coroutine<> {
          std::string line = co_await r.readline();
          w.write("echo:" + line);
          co_await w.drain();
          w.close();
        },
        ServerOptions{.sock = fd});
    EXPECT_EQ(net_test::port_of(server), port);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    writer.write("hi\n");
    EXPECT_EQ(co_await reader.readline(), "echo:hi\n");
    writer.close();
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
    EXPECT_FALSE(fd_open(fd));
  });
}

TEST(Adopt, test_create_server_host_port_sock) {
  run_net([](auto&) -> Coroutine<> {
    int port = 0;
    const int fd = net_test::raw_listener(port);
    auto e = co_await raises(create_server(get_running_loop(), recorder, "127.0.0.1", 0, {.sock = fd}));
    EXPECT_EXC(e, std::invalid_argument, "host/port and sock can not be specified at the same time");
    e = co_await raises(create_server(get_running_loop(), recorder, ServerOptions{}));
    EXPECT_EXC(e, std::invalid_argument, "Neither host/port nor sock were specified");
    const int dgram = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    e = co_await raises(create_server(get_running_loop(), recorder, {.sock = dgram}));
    EXPECT_EQ(what(e).rfind("A Stream Socket was expected, got <", 0), 0u) << what(e);
    e = co_await raises(create_unix_server(get_running_loop(), recorder, ServerOptions{}));
    EXPECT_EXC(e, std::invalid_argument, "path was not specified, and no sock specified");
    e = co_await raises(create_unix_server(get_running_loop(), recorder, {.sock = fd}));
    EXPECT_EQ(what(e).rfind("A UNIX Domain Stream Socket was expected, got <", 0), 0u) << what(e);
    ::close(fd);
    ::close(dgram);
  });
}

TEST(Adopt, test_connect_accepted_socket) {
  run_net([](auto&) -> Coroutine<> {
    int port = 0;
    const int lfd = net_test::raw_listener(port);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    const int accepted = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(accepted, 0);
    auto [t, p] = co_await connect_accepted_socket(get_running_loop(), recorder, accepted);
    writer.write("ping");
    EXPECT_TRUE(co_await run_until([&] { return p->data == "ping"; }));
    t->write("pong");
    EXPECT_EQ(co_await reader.readexactly(4), "pong");
    auto peer = std::any_cast<SocketAddress>(t->get_extra_info("peername"));
    EXPECT_EQ(peer.host, "127.0.0.1");
    writer.close();
    co_await writer.wait_closed();
    EXPECT_TRUE(co_await run_until([&] { return p->eof; }));
    t->close();
    co_await p->done;
    ::close(lfd);
  });
}

TEST(Adopt, test_open_connection_sock_socketpair) {
  // CPython's streams example "Register an open socket to wait for data
  // using streams": a socket pair, one end as streams.
  run_net([](auto&) -> Coroutine<> {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    auto [reader, writer] = co_await open_connection({.sock = sv[0]});
    EXPECT_EQ(::send(sv[1], "abc", 3, 0), 3);
    EXPECT_EQ(co_await reader.read(100), "abc");
    writer.close();
    co_await writer.wait_closed();
    ::close(sv[1]);
  });
}

TEST(Adopt, test_read_pipe) {
  run_net([](auto&) -> Coroutine<> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    auto [t, p] = co_await connect_read_pipe(get_running_loop(), recorder, fds[0]);
    EXPECT_EQ(::write(fds[1], "1", 1), 1);
    EXPECT_TRUE(co_await run_until([&] { return p->data == "1"; }));
    EXPECT_EQ(::write(fds[1], "2345", 4), 4);
    EXPECT_TRUE(co_await run_until([&] { return p->data == "12345"; }));
    EXPECT_THROW(t->write("x"), RuntimeError);
    ::close(fds[1]);
    co_await p->done;
    // The protocol asked to stay open; a read pipe ends at EOF anyway.
    EXPECT_TRUE(p->eof);
    EXPECT_FALSE(p->lost_exc);
    EXPECT_FALSE(fd_open(fds[0]));
  });
}

TEST(Adopt, test_write_pipe) {
  run_net([](auto&) -> Coroutine<> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    auto [t, p] = co_await connect_write_pipe(get_running_loop(), recorder, fds[1]);
    std::string got;
    auto read_some = [&] {
      char buf[4096];
      for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
      return got;
    };
    t->write("1");
    EXPECT_TRUE(co_await run_until([&] { return read_some() == "1"; }));
    t->write("2345");
    EXPECT_TRUE(co_await run_until([&] { return read_some() == "12345"; }));
    // More than a pipe holds: buffered, then drained as the reader reads.
    const std::string big(200000, 'z');
    t->write(big);
    EXPECT_GT(t->get_write_buffer_size(), 0u);
    EXPECT_TRUE(co_await run_until([&] { return read_some().size() == 5 + big.size(); }));
    EXPECT_EQ(t->get_write_buffer_size(), 0u);
    t->close();
    co_await p->done;
    EXPECT_FALSE(p->lost_exc);
    EXPECT_FALSE(fd_open(fds[1]));
    ::close(fds[0]);
  });
}

TEST(Adopt, test_write_pipe_disconnect_on_close) {
  // The reader gone: a write fails with BrokenPipeError to connection_lost().
  run_net([](auto&) -> Coroutine<> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    auto [t, p] = co_await connect_write_pipe(get_running_loop(), recorder, fds[1]);
    ::close(fds[0]);
    t->write("data");
    co_await p->done;
    EXPECT_TRUE(asyncio_test::has_errc(p->lost_exc, std::errc::broken_pipe)) << asyncio_test::what(p->lost_exc);
  });
}

TEST(Adopt, test_read_pipe_refuses_a_regular_file) {
  run_net([](auto&) -> Coroutine<> {
    const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    auto e = co_await raises(connect_read_pipe(get_running_loop(), recorder, fd));
    EXPECT_EXC(e, std::invalid_argument, "Pipe transport is for pipes/sockets only.");
    ::close(fd);
  });
}

TEST(Adopt, test_read_pty_output) {
  // A pty's master is a character device: a read pipe accepts it.
  run_net([](auto&) -> Coroutine<> {
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_GE(master, 0);
    EXPECT_EQ(::grantpt(master), 0);
    EXPECT_EQ(::unlockpt(master), 0);
    const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_GE(slave, 0);
    termios raw{};
    EXPECT_EQ(::tcgetattr(slave, &raw), 0);
    ::cfmakeraw(&raw);  // bytes through unchanged
    EXPECT_EQ(::tcsetattr(slave, TCSANOW, &raw), 0);
    auto [t, p] = co_await connect_read_pipe(get_running_loop(), recorder, master);
    EXPECT_EQ(::write(slave, "1", 1), 1);
    EXPECT_TRUE(co_await run_until([&] { return p->data == "1"; }));
    EXPECT_EQ(::write(slave, "2345", 4), 4);
    EXPECT_TRUE(co_await run_until([&] { return p->data == "12345"; }));
    EXPECT_FALSE(p->lost);
    EXPECT_EQ(std::any_cast<int>(t->get_extra_info("pipe")), master);
    EXPECT_FALSE(t->get_extra_info("peername").has_value());
    ::close(slave);
    t->close();
    co_await p->done;
    EXPECT_FALSE(fd_open(master));
  });
}

TEST(Adopt, test_unclosed_pipe_transport) {
  // Transports left open when the loop closes: the loop closes them and
  // their descriptors (run_net counts them); as CPython's loop.close(), no
  // protocol callback runs after it.
  std::shared_ptr<Recorder> rp, wp;
  run_net([&](auto&) -> Coroutine<> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    auto [rt, r] = co_await connect_read_pipe(get_running_loop(), recorder, fds[0]);
    auto [wt, w] = co_await connect_write_pipe(get_running_loop(), recorder, fds[1]);
    EXPECT_FALSE(rt->is_closing());
    EXPECT_FALSE(wt->is_closing());
    rp = r;
    wp = w;
  });
  EXPECT_FALSE(rp->lost);
  EXPECT_FALSE(wp->lost);
}

TEST(Adopt, test_create_unix_server_existing_path_sock) {
  // ≙ test_unix_events: a Unix listener bound elsewhere, served by
  // start_unix_server(sock=); its file is left alone (not ours to remove).
  run_net([](auto&) -> Coroutine<> {
    const std::string path = net_test::unix_path("adopt-srv");
    ::unlink(path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.copy(sa.sun_path, sizeof sa.sun_path - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    Server server = co_await start_unix_server(
        [](StreamReader r, StreamWriter w) -> Coroutine<> {
          std::string line = co_await r.readline();
          w.write("echo:" + line);
          co_await w.drain();
          w.close();
        },
        ServerOptions{.sock = fd});
    auto [reader, writer] = co_await open_unix_connection(path);
    writer.write("hi\n");
    EXPECT_EQ(co_await reader.readline(), "echo:hi\n");
    writer.close();
    co_await writer.wait_closed();
    co_await net_test::close_server(server);
    EXPECT_FALSE(fd_open(fd));
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
    ::unlink(path.c_str());
  });
}

TEST(Adopt, test_open_unix_connection_sock) {
  run_net([](auto&) -> Coroutine<> {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    auto [reader, writer] = co_await open_unix_connection({.sock = sv[0]});
    writer.write("ping");
    char buf[8];
    EXPECT_EQ(::recv(sv[1], buf, sizeof buf, 0), 4);
    EXPECT_EQ(::send(sv[1], "pong", 4, 0), 4);
    EXPECT_EQ(co_await reader.read(100), "pong");
    writer.close();
    co_await writer.wait_closed();
    EXPECT_FALSE(fd_open(sv[0]));
    ::close(sv[1]);
  });
}

TEST(Adopt, test_create_unix_server_sock_wrong_type) {
  run_net([](auto&) -> Coroutine<> {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto e = co_await raises(create_unix_server(get_running_loop(), recorder, ServerOptions{.sock = fd}));
    EXPECT_EQ(what(e).rfind("A UNIX Domain Stream Socket was expected, got <", 0), 0u) << what(e);
    ::close(fd);
  });
}
