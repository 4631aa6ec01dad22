// asyncio-cpp: SPDX-License-Identifier: MIT
// sock_sendfile() and loop.sendfile(). Port of CPython's
// Lib/test/test_asyncio/test_sendfile.py (its monkeypatched
// _sendfile_native is a pipe as the file here: sendfile(2) refuses it, so
// the fallback runs), and a 1 GiB sparse file compared byte for byte.
#include "sock_test.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using asyncio::Coroutine;
using asyncio::EventLoop;
using asyncio::SendfileOptions;
using asyncio::Socket;
using asyncio_test::holds;
using asyncio_test::raises;
using asyncio_test::what;
using net_test::NetLoop;
using sock_test::poll_handles;

namespace {

// Linux >= 6.10 buffers up to 17 pages: large enough to be reliable.
const std::string DATA(1024 * 17 * 64 + 1, 'x');
constexpr int BUF_SIZE = 4 * 1024;

/// A temporary file holding `data`, read from the start.
struct TempFile {
  explicit TempFile(std::string_view data = DATA) {
    char path[] = "/tmp/asyncio_sendfile_XXXXXX";
    fd = ::mkstemp(path);
    ::unlink(path);
    if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::abort();
    ::lseek(fd, 0, SEEK_SET);
  }
  ~TempFile() { ::close(fd); }
  off_t tell() const { return ::lseek(fd, 0, SEEK_CUR); }
  int fd;
};

/// A pipe that a thread fills with `data` (then closes): a file that
/// sendfile(2) cannot read from, so the fallback runs.
struct PipeFile {
  explicit PipeFile(std::string_view data = DATA) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    fd = fds[0];
    writer = std::thread([w = fds[1], data] {
      for (std::size_t at = 0; at < data.size();) {
        const ssize_t n = ::write(w, data.data() + at, data.size() - at);
        if (n <= 0) break;
        at += static_cast<std::size_t>(n);
      }
      ::close(w);
    });
  }
  ~PipeFile() {
    ::close(fd);  // a writer still blocked gets EPIPE
    writer.join();
  }
  int fd;
  std::thread writer;
};

void setsockopt_int(int fd, int name, int value) { ::setsockopt(fd, SOL_SOCKET, name, &value, sizeof value); }

struct MyProto : asyncio::Protocol {
  std::string data;
  asyncio::Future<> done = asyncio::get_running_loop().create_future();
  void data_received(std::string_view d) override { data.append(d); }
  void connection_lost(std::exception_ptr) override { done.set_result(); }
};

/// ≙ prepare_socksendfile: a server whose protocol collects, and a
/// connected non-blocking client socket with small buffers.
struct SockSendfile {
  asyncio::Server server;
  std::shared_ptr<MyProto> proto = std::make_shared<MyProto>();
  Socket sock;
};

Coroutine<> prepare_socksendfile(EventLoop& loop, SockSendfile& s) {
  auto proto = s.proto;
  auto factory = [proto] { return proto; };
  s.server = co_await asyncio::create_server(loop, factory, "127.0.0.1", 0);
  setsockopt_int(s.server.sockets().at(0).fileno(), SO_RCVBUF, BUF_SIZE);
  s.sock.setblocking(false);
  co_await asyncio::sock_connect(loop, s.sock.fileno(), {"127.0.0.1", net_test::port_of(s.server)});
  setsockopt_int(s.sock.fileno(), SO_SNDBUF, BUF_SIZE);
}

Coroutine<> finish(SockSendfile& s) {
  s.sock.close();
  co_await s.proto->done;
  co_await net_test::close_server(s.server);
}

Coroutine<> sock_sendfile_success(NetLoop& t) {
  SockSendfile s;
  TempFile file;
  co_await prepare_socksendfile(t.loop, s);
  const std::uint64_t ret = co_await asyncio::sock_sendfile(t.loop, s.sock.fileno(), file.fd);
  co_await finish(s);
  EXPECT_EQ(ret, DATA.size());
  EXPECT_TRUE(s.proto->data == DATA);
  EXPECT_EQ(file.tell(), static_cast<off_t>(DATA.size()));
}

Coroutine<> sock_sendfile_with_offset_and_count(NetLoop& t) {
  SockSendfile s;
  TempFile file;
  co_await prepare_socksendfile(t.loop, s);
  const std::uint64_t ret =
      co_await asyncio::sock_sendfile(t.loop, s.sock.fileno(), file.fd, {.offset = 1000, .count = 2000});
  co_await finish(s);
  EXPECT_TRUE(s.proto->data == DATA.substr(1000, 2000));
  EXPECT_EQ(file.tell(), 3000);
  EXPECT_EQ(ret, 2000u);
}

Coroutine<> sock_sendfile_zero_size(NetLoop& t) {
  SockSendfile s;
  TempFile file;
  TempFile empty("");
  co_await prepare_socksendfile(t.loop, s);
  const std::uint64_t ret = co_await asyncio::sock_sendfile(t.loop, s.sock.fileno(), empty.fd);
  co_await finish(s);
  EXPECT_EQ(ret, 0u);
  EXPECT_EQ(file.tell(), 0);
}

Coroutine<> sock_sendfile_mix_with_regular_send(NetLoop& t) {
  std::string buf;
  for (int i = 0; i < 4 * 1024; ++i) buf += "mix_regular_send";  // 64 KiB
  SockSendfile s;
  TempFile file;
  co_await prepare_socksendfile(t.loop, s);
  co_await asyncio::sock_sendall(t.loop, s.sock.fileno(), buf);
  const std::uint64_t ret = co_await asyncio::sock_sendfile(t.loop, s.sock.fileno(), file.fd);
  co_await asyncio::sock_sendall(t.loop, s.sock.fileno(), buf);
  co_await finish(s);
  EXPECT_EQ(ret, DATA.size());
  EXPECT_TRUE(s.proto->data == buf + DATA + buf);
  EXPECT_EQ(file.tell(), static_cast<off_t>(DATA.size()));
}

// The fallback of sock_sendfile (≙ _sock_sendfile_fallback), and its
// refusal with fallback=false.
Coroutine<> sock_sendfile_fallback(NetLoop& t) {
  SockSendfile s;
  PipeFile file;
  co_await prepare_socksendfile(t.loop, s);
  auto e = co_await raises(asyncio::sock_sendfile(t.loop, s.sock.fileno(), file.fd, {.fallback = false}));
  EXPECT_TRUE(holds<asyncio::SendfileNotAvailableError>(e));
  EXPECT_EQ(what(e), "not a regular file");
  const std::uint64_t ret = co_await asyncio::sock_sendfile(t.loop, s.sock.fileno(), file.fd);
  co_await finish(s);
  EXPECT_EQ(ret, DATA.size());
  EXPECT_TRUE(s.proto->data == DATA);
}

Coroutine<> sock_sendfile_errors(NetLoop& t) {
  TempFile file;
  Socket udp(AF_INET, SOCK_DGRAM);
  udp.setblocking(false);
  EXPECT_EQ(what(co_await raises(asyncio::sock_sendfile(t.loop, udp.fileno(), file.fd))),
            "only SOCK_STREAM type sockets are supported");
  Socket tcp;
  EXPECT_EQ(what(co_await raises(asyncio::sock_sendfile(t.loop, tcp.fileno(), file.fd))),
            "the socket must be non-blocking");
  tcp.setblocking(false);
  EXPECT_EQ(what(co_await raises(asyncio::sock_sendfile(t.loop, tcp.fileno(), file.fd, {.count = 0}))),
            "count must be a positive integer (got 0)");
  EXPECT_EQ(what(co_await raises(asyncio::sock_sendfile(t.loop, tcp.fileno(), file.fd, {.offset = -1}))),
            "offset must be a non-negative integer (got -1)");
}

}  // namespace

TEST(SockSendfile, test_sock_sendfile_success) { net_test::run_net(sock_sendfile_success); }
TEST(SockSendfile, test_sock_sendfile_with_offset_and_count) { net_test::run_net(sock_sendfile_with_offset_and_count); }
TEST(SockSendfile, test_sock_sendfile_zero_size) { net_test::run_net(sock_sendfile_zero_size); }
TEST(SockSendfile, test_sock_sendfile_mix_with_regular_send) { net_test::run_net(sock_sendfile_mix_with_regular_send); }
TEST(SockSendfile, Fallback) { net_test::run_net(sock_sendfile_fallback); }
TEST(SockSendfile, Errors) { net_test::run_net(sock_sendfile_errors); }

namespace {

struct MySendfileProto : asyncio::Protocol {
  explicit MySendfileProto(std::size_t close_after = 0) : close_after(close_after) {}
  asyncio::Transport* transport = nullptr;
  std::string state = "INITIAL";
  std::size_t nbytes = 0;
  std::string data;
  std::size_t close_after;
  asyncio::Future<> done = asyncio::get_running_loop().create_future();

  void connection_made(asyncio::Transport& tr) override {
    transport = &tr;
    EXPECT_EQ(state, "INITIAL");
    state = "CONNECTED";
  }
  bool eof_received() override {
    EXPECT_EQ(state, "CONNECTED");
    state = "EOF";
    return false;
  }
  void connection_lost(std::exception_ptr) override {
    EXPECT_TRUE(state == "CONNECTED" || state == "EOF") << state;
    state = "CLOSED";
    done.set_result();
  }
  void data_received(std::string_view d) override {
    EXPECT_EQ(state, "CONNECTED");
    nbytes += d.size();
    data.append(d);
    if (close_after && nbytes >= close_after) transport->close();
  }
};

/// ≙ prepare_sendfile: a server protocol and a client transport over
/// sockets with small buffers (and a small high-water mark).
struct Sendfile {
  asyncio::Server server;
  std::shared_ptr<MySendfileProto> srv_proto;
  std::shared_ptr<asyncio::Transport> tr;
  std::shared_ptr<MySendfileProto> cli_proto;
};

Coroutine<> prepare_sendfile(EventLoop& loop, Sendfile& s, std::size_t close_after = 0) {
  s.srv_proto = std::make_shared<MySendfileProto>(close_after);
  auto srv_proto = s.srv_proto;
  auto srv_factory = [srv_proto] { return srv_proto; };
  s.server = co_await asyncio::create_server(loop, srv_factory, "127.0.0.1", 0);
  setsockopt_int(s.server.sockets().at(0).fileno(), SO_RCVBUF, BUF_SIZE);
  const int cli_sock = net_test::raw_connect(net_test::port_of(s.server));
  auto cli_factory = [] { return std::make_shared<MySendfileProto>(); };
  auto [tr, pr] = co_await asyncio::create_connection(loop, cli_factory, asyncio::ConnectionOptions{.sock = cli_sock});
  s.tr = tr;
  s.cli_proto = pr;
  setsockopt_int(cli_sock, SO_SNDBUF, BUF_SIZE);
  tr->set_write_buffer_limits(BUF_SIZE);
  co_await net_test::until([&s] { return s.srv_proto->state == "CONNECTED"; });
}

Coroutine<> cleanup(Sendfile& s) {
  s.tr->close();
  if (s.srv_proto->transport && s.srv_proto->state != "CLOSED") s.srv_proto->transport->close();
  co_await s.srv_proto->done;
  co_await s.cli_proto->done;
  co_await net_test::close_server(s.server);
}

/// A Transport of the user's own: sendfile() cannot serve it.
struct OwnTransport : asyncio::Transport {
  std::any get_extra_info(std::string_view, std::any d) const override { return d; }
  bool is_closing() const override { return false; }
  void close() override {}
  bool is_reading() const override { return false; }
  void pause_reading() override {}
  void resume_reading() override {}
  void set_write_buffer_limits(std::optional<std::size_t>, std::optional<std::size_t>) override {}
  std::size_t get_write_buffer_size() const override { return 0; }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override { return {0, 0}; }
  void write(std::string_view) override {}
  void writelines(std::span<const std::string_view>) override {}
  void write_eof() override {}
  bool can_write_eof() const override { return false; }
  void abort() override {}
  void set_protocol(std::shared_ptr<asyncio::Protocol>) override {}
  std::shared_ptr<asyncio::Protocol> get_protocol() const override { return nullptr; }
};

Coroutine<> sendfile_not_supported(NetLoop& t) {
  TempFile file;
  std::shared_ptr<asyncio::Transport> tr = std::make_shared<OwnTransport>();
  auto e = co_await raises(asyncio::sendfile(t.loop, tr, file.fd));
  EXPECT_TRUE(holds<asyncio::RuntimeError>(e));
  EXPECT_NE(what(e).find("sendfile is not supported for transport"), std::string::npos) << what(e);
  EXPECT_EQ(file.tell(), 0);
}

Coroutine<> sendfile_ok(NetLoop& t) {
  Sendfile s;
  TempFile file;
  co_await prepare_sendfile(t.loop, s);
  const std::uint64_t ret = co_await asyncio::sendfile(t.loop, s.tr, file.fd);
  s.tr->close();
  co_await s.srv_proto->done;
  EXPECT_EQ(ret, DATA.size());
  EXPECT_EQ(s.srv_proto->nbytes, DATA.size());
  EXPECT_TRUE(s.srv_proto->data == DATA);
  EXPECT_EQ(file.tell(), static_cast<off_t>(DATA.size()));
  EXPECT_EQ(poll_handles(t.loop), 1);  // the server's listener only
  co_await cleanup(s);
}

Coroutine<> sendfile_force_fallback(NetLoop& t) {
  Sendfile s;
  PipeFile file;
  co_await prepare_sendfile(t.loop, s);
  const std::uint64_t ret = co_await asyncio::sendfile(t.loop, s.tr, file.fd);
  s.tr->close();
  co_await s.srv_proto->done;
  EXPECT_EQ(ret, DATA.size());
  EXPECT_EQ(s.srv_proto->nbytes, DATA.size());
  EXPECT_TRUE(s.srv_proto->data == DATA);
  co_await cleanup(s);
}

Coroutine<> sendfile_force_unsupported_native(NetLoop& t) {
  Sendfile s;
  PipeFile file;
  co_await prepare_sendfile(t.loop, s);
  auto e = co_await raises(asyncio::sendfile(t.loop, s.tr, file.fd, {.fallback = false}));
  EXPECT_TRUE(holds<asyncio::SendfileNotAvailableError>(e)) << what(e);
  s.tr->close();
  co_await s.srv_proto->done;
  EXPECT_EQ(s.srv_proto->nbytes, 0u);
  co_await cleanup(s);
}

Coroutine<> sendfile_for_closing_transp(NetLoop& t) {
  Sendfile s;
  TempFile file;
  co_await prepare_sendfile(t.loop, s);
  s.tr->close();
  auto e = co_await raises(asyncio::sendfile(t.loop, s.tr, file.fd));
  EXPECT_EQ(what(e), "Transport is closing");
  co_await s.srv_proto->done;
  EXPECT_EQ(s.srv_proto->nbytes, 0u);
  EXPECT_EQ(file.tell(), 0);
  co_await cleanup(s);
}

Coroutine<> sendfile_pre_and_post_data(NetLoop& t) {
  Sendfile s;
  TempFile file;
  co_await prepare_sendfile(t.loop, s);
  std::string PREFIX, SUFFIX;
  for (int i = 0; i < 1024; ++i) {
    PREFIX += "PREFIX__";
    SUFFIX += "--SUFFIX";
  }
  s.tr->write(PREFIX);
  const std::uint64_t ret = co_await asyncio::sendfile(t.loop, s.tr, file.fd);
  s.tr->write(SUFFIX);
  s.tr->close();
  co_await s.srv_proto->done;
  EXPECT_EQ(ret, DATA.size());
  EXPECT_TRUE(s.srv_proto->data == PREFIX + DATA + SUFFIX);
  EXPECT_EQ(file.tell(), static_cast<off_t>(DATA.size()));
  co_await cleanup(s);
}

Coroutine<> sendfile_partial(NetLoop& t) {
  Sendfile s;
  TempFile file;
  co_await prepare_sendfile(t.loop, s);
  const std::uint64_t ret = co_await asyncio::sendfile(t.loop, s.tr, file.fd, {.offset = 1000, .count = 100});
  s.tr->close();
  co_await s.srv_proto->done;
  EXPECT_EQ(ret, 100u);
  EXPECT_EQ(s.srv_proto->nbytes, 100u);
  EXPECT_TRUE(s.srv_proto->data == DATA.substr(1000, 100));
  EXPECT_EQ(file.tell(), 1100);
  co_await cleanup(s);
}

Coroutine<> sendfile_close_peer_after_receiving(NetLoop& t) {
  Sendfile s;
  TempFile file;
  co_await prepare_sendfile(t.loop, s, DATA.size());
  const std::uint64_t ret = co_await asyncio::sendfile(t.loop, s.tr, file.fd);
  s.tr->close();
  co_await s.srv_proto->done;
  EXPECT_EQ(ret, DATA.size());
  EXPECT_EQ(s.srv_proto->nbytes, DATA.size());
  EXPECT_TRUE(s.srv_proto->data == DATA);
  EXPECT_EQ(file.tell(), static_cast<off_t>(DATA.size()));
  co_await cleanup(s);
}

bool is_connection_error(const std::exception_ptr& e) {
  using asyncio_test::has_errc;
  return has_errc(e, std::errc::connection_reset) || has_errc(e, std::errc::broken_pipe) ||
         has_errc(e, std::errc::not_connected) || has_errc(e, std::errc::connection_aborted);
}

Coroutine<> sendfile_close_peer_in_the_middle_of_receiving(NetLoop& t) {
  Sendfile s;
  TempFile file;
  co_await prepare_sendfile(t.loop, s, 1024);
  auto e = co_await raises(asyncio::sendfile(t.loop, s.tr, file.fd));
  EXPECT_TRUE(is_connection_error(e)) << what(e);
  co_await s.srv_proto->done;
  EXPECT_TRUE(1024 <= s.srv_proto->nbytes && s.srv_proto->nbytes < DATA.size()) << s.srv_proto->nbytes;
  EXPECT_TRUE(1024 <= file.tell() && file.tell() < static_cast<off_t>(DATA.size())) << file.tell();
  s.tr->close();
  EXPECT_TRUE(s.tr->is_closing());
  co_await cleanup(s);
}

Coroutine<> sendfile_fallback_close_peer_in_the_middle_of_receiving(NetLoop& t) {
  Sendfile s;
  PipeFile file;
  co_await prepare_sendfile(t.loop, s, 1024);
  auto e = co_await raises(asyncio::sendfile(t.loop, s.tr, file.fd));
  EXPECT_TRUE(is_connection_error(e)) << what(e);
  co_await s.srv_proto->done;
  EXPECT_TRUE(1024 <= s.srv_proto->nbytes && s.srv_proto->nbytes < DATA.size()) << s.srv_proto->nbytes;
  co_await cleanup(s);
}

Coroutine<std::uint64_t> sendfile_after(asyncio::Future<> started, EventLoop& loop,
                                        std::shared_ptr<asyncio::Transport> tr, int fd) {
  started.set_result();
  co_return co_await asyncio::sendfile(loop, tr, fd);
}

Coroutine<> sendfile_prevents_bare_write(NetLoop& t) {
  Sendfile s;
  TempFile file;
  co_await prepare_sendfile(t.loop, s);
  asyncio::Future<> fut = t.loop.create_future();
  auto task = t.loop.create_task(sendfile_after(fut, t.loop, s.tr, file.fd));
  co_await fut;
  co_await asyncio::sleep(0);
  auto e = asyncio_test::capture([&] { s.tr->write("data"); });
  EXPECT_EQ(what(e), "unable to write; sendfile is in progress");
  EXPECT_EQ(co_await task, DATA.size());
  co_await cleanup(s);
}

// A pipe transport takes the fallback (≙ _SendfileMode.FALLBACK).
Coroutine<> sendfile_no_fallback_for_fallback_transport(NetLoop& t) {
  int fds[2];
  const bool piped = ::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0;
  CO_ASSERT_TRUE(piped);
  auto factory = [] { return std::make_shared<asyncio::Protocol>(); };
  auto [tr, pr] = co_await asyncio::connect_write_pipe(t.loop, factory, fds[1]);
  TempFile file;
  auto e = co_await raises(asyncio::sendfile(t.loop, tr, file.fd, {.fallback = false}));
  EXPECT_EQ(what(e), "fallback is disabled and native sendfile is not supported for transport "
                     "<_UnixWritePipeTransport fd=" + std::to_string(fds[1]) + ">");
  // With the fallback, through write().
  auto reader = std::thread([r = fds[0]] {
    char buf[65536];
    std::size_t n = 0;
    while (n < DATA.size()) {
      const ssize_t got = ::read(r, buf, sizeof buf);
      if (got > 0) n += static_cast<std::size_t>(got);
      else if (got == 0 || errno != EAGAIN) break;
    }
  });
  EXPECT_EQ(co_await asyncio::sendfile(t.loop, tr, file.fd), DATA.size());
  tr->close();
  co_await asyncio::sleep(0.01);
  reader.join();
  ::close(fds[0]);
}

}  // namespace

TEST(Sendfile, test_sendfile_not_supported) { net_test::run_net(sendfile_not_supported); }
TEST(Sendfile, test_sendfile) { net_test::run_net(sendfile_ok); }
TEST(Sendfile, test_sendfile_force_fallback) { net_test::run_net(sendfile_force_fallback); }
TEST(Sendfile, test_sendfile_force_unsupported_native) { net_test::run_net(sendfile_force_unsupported_native); }
TEST(Sendfile, test_sendfile_for_closing_transp) { net_test::run_net(sendfile_for_closing_transp); }
TEST(Sendfile, test_sendfile_pre_and_post_data) { net_test::run_net(sendfile_pre_and_post_data); }
TEST(Sendfile, test_sendfile_partial) { net_test::run_net(sendfile_partial); }
TEST(Sendfile, test_sendfile_close_peer_after_receiving) { net_test::run_net(sendfile_close_peer_after_receiving); }
TEST(Sendfile, test_sendfile_close_peer_in_the_middle_of_receiving) {
  net_test::run_net(sendfile_close_peer_in_the_middle_of_receiving);
}
TEST(Sendfile, test_sendfile_fallback_close_peer_in_the_middle_of_receiving) {
  net_test::run_net(sendfile_fallback_close_peer_in_the_middle_of_receiving);
}
TEST(Sendfile, test_sendfile_prevents_bare_write) { net_test::run_net(sendfile_prevents_bare_write); }
TEST(Sendfile, test_sendfile_no_fallback_for_fallback_transport) {
  net_test::run_net(sendfile_no_fallback_for_fallback_transport);
}

namespace {

constexpr std::uint64_t GiB = 1ull << 30;

/// A sparse file of `size` bytes with a distinct pattern in a few 1 MiB
/// places (the start, the middle, the end); zeros (holes) elsewhere.
int sparse_file(std::uint64_t size) {
  char path[] = "/tmp/asyncio_sendfile_big_XXXXXX";
  const int fd = ::mkstemp(path);
  ::unlink(path);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) std::abort();
  for (std::uint64_t at : {std::uint64_t{0}, size / 2 + 12345, size - (1 << 20)}) {
    const std::string p = net_test::pattern(1 << 20, static_cast<unsigned>(at));
    if (::pwrite(fd, p.data(), p.size(), static_cast<off_t>(at)) != static_cast<ssize_t>(p.size())) std::abort();
  }
  return fd;
}

/// Receives on a blocking socket in a thread and compares each chunk with
/// the file at the same offset (pread), so nothing of the size is held.
struct Comparer {
  Comparer(int sock, int file, std::uint64_t offset) {
    thread = std::thread([this, sock, file, offset] {
      std::string got(1 << 20, '\0'), want(1 << 20, '\0');
      for (;;) {
        const ssize_t n = ::recv(sock, got.data(), got.size(), 0);
        if (n <= 0) break;
        if (::pread(file, want.data(), static_cast<std::size_t>(n), static_cast<off_t>(offset + received)) != n ||
            std::memcmp(got.data(), want.data(), static_cast<std::size_t>(n)) != 0)
          mismatch = true;
        received += static_cast<std::uint64_t>(n);
      }
    });
  }
  std::uint64_t join() {
    thread.join();
    return received;
  }
  std::thread thread;
  std::uint64_t received = 0;
  bool mismatch = false;
};

Coroutine<> sendfile_1gib(NetLoop& t) {
  const int file = sparse_file(GiB);
  int fds[2];
  const bool paired = ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0;
  CO_ASSERT_TRUE(paired);
  Comparer cmp(fds[1], file, 0);
  Socket sock = Socket::from_fd(fds[0]);
  sock.setblocking(false);
  // count above 2 GiB (and above what one sendfile(2) moves): the end of
  // the file ends it.
  const std::uint64_t sent = co_await asyncio::sock_sendfile(t.loop, sock.fileno(), file, {.count = 5 * GiB});
  sock.close();
  EXPECT_EQ(sent, GiB);
  EXPECT_EQ(cmp.join(), GiB);
  EXPECT_FALSE(cmp.mismatch);
  EXPECT_EQ(::lseek(file, 0, SEEK_CUR), static_cast<off_t>(GiB));
  ::close(fds[1]);
  ::close(file);
}

// An offset beyond 2 GiB and 4 GiB reaches sendfile(2) unnarrowed.
Coroutine<> sendfile_far_offset(NetLoop& t) {
  const std::uint64_t size = 5 * GiB;
  const int file = sparse_file(size);
  int fds[2];
  const bool paired = ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0;
  CO_ASSERT_TRUE(paired);
  const std::uint64_t offset = size - (1 << 20) + 100;  // inside the last pattern
  Comparer cmp(fds[1], file, offset);
  Socket sock = Socket::from_fd(fds[0]);
  sock.setblocking(false);
  const std::uint64_t sent = co_await asyncio::sock_sendfile(t.loop, sock.fileno(), file,
                                                             {.offset = static_cast<std::int64_t>(offset), .count = 5000});
  sock.close();
  EXPECT_EQ(sent, 5000u);
  EXPECT_EQ(cmp.join(), 5000u);
  EXPECT_FALSE(cmp.mismatch);
  EXPECT_EQ(::lseek(file, 0, SEEK_CUR), static_cast<off_t>(offset + 5000));
  ::close(fds[1]);
  ::close(file);
}

}  // namespace

TEST(SendfileLarge, OneGiBComparedByteForByte) { net_test::run_net(sendfile_1gib); }
TEST(SendfileLarge, OffsetBeyond4GiB) { net_test::run_net(sendfile_far_offset); }
