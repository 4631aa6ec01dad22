// asyncio-cpp: SPDX-License-Identifier: MIT
// sock_sendfile() and loop.sendfile(): sendfile(2) where it works, a
// read/write loop where it does not. ≙ BaseEventLoop.sendfile /
// sock_sendfile / _sendfile_fallback (base_events.py), _sendfile_native
// (selector_events.py) and _sock_sendfile_native (unix_events.py);
// design-notes.md, "sendfile".
#include <asyncio/selector_events.hpp>

#include <asyncio/futures.hpp>

#include "detail/fd_watcher.hpp"
#include "detail/stream_transport.hpp"
#include "detail/uv_error.hpp"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace asyncio {

namespace detail {

namespace {

static_assert(sizeof(off_t) == 8, "sendfile offsets are 64-bit (_FILE_OFFSET_BITS=64 on 32-bit systems)");

// Linux's sendfile(2) moves at most 0x7ffff000 bytes per call, whatever
// it is asked (and a size_t count above SSIZE_MAX is EINVAL): each call is
// given at most this, so a count beyond 2 GiB takes several.
constexpr std::uint64_t max_chunk = 0x7ffff000;
// ≙ constants.SENDFILE_FALLBACK_READBUFFER_SIZE (sock_sendfile's loop).
constexpr std::size_t fallback_read_size = 256 * 1024;
// ≙ the 16 KiB blocks of _sendfile_fallback (loop.sendfile's loop).
constexpr std::size_t fallback_transport_block = 16 * 1024;

/// ≙ _check_sendfile_params.
void check_params(int sock, const SendfileOptions& o) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) != 0) throw_errno(errno);
  if (type != SOCK_STREAM) throw std::invalid_argument("only SOCK_STREAM type sockets are supported");
  if (o.count && *o.count == 0) throw std::invalid_argument("count must be a positive integer (got 0)");
  if (o.offset < 0)
    throw std::invalid_argument("offset must be a non-negative integer (got " + std::to_string(o.offset) + ")");
}

/// ≙ _sock_sendfile_update_filepos, run however the send ends (a
/// cancellation too): the file position is left after what was sent.
struct FilePosition {
  int file;
  std::int64_t offset;
  const std::uint64_t& total;
  ~FilePosition() {
    if (total > 0) ::lseek(file, static_cast<off_t>(offset + static_cast<std::int64_t>(total)), SEEK_SET);
  }
};

/// The bytes still wanted: `count - total`, or up to the end of the file.
std::uint64_t wanted(const SendfileOptions& o, std::uint64_t total) noexcept {
  return o.count ? *o.count - total : std::numeric_limits<std::uint64_t>::max();
}

/// The read half of both fallbacks (≙ the loops of _sock_sendfile_fallback
/// and _sendfile_fallback): the file from `o.offset`, in blocks of at most
/// `block` bytes, up to `o.count` or the end of the file; the file position
/// is left after what was sent (FilePosition).
class FileBlocks {
 public:
  FileBlocks(int file, const SendfileOptions& o, std::size_t block)
      : file_(file), o_(o), position_{file, o.offset, total} {
    if (o.offset && ::lseek(file, static_cast<off_t>(o.offset), SEEK_SET) < 0) throw_errno(errno);
    buf_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(wanted(o, 0), block)));
  }
  /// The next block; empty once `count` is sent or at the end of the file.
  /// The caller adds what it sent to `total`.
  std::string_view next() {
    const std::size_t block = static_cast<std::size_t>(std::min<std::uint64_t>(wanted(o_, total), buf_.size()));
    if (block == 0) return {};
    for (;;) {
      const ssize_t got = ::read(file_, buf_.data(), block);
      if (got >= 0) return std::string_view(buf_.data(), static_cast<std::size_t>(got));
      if (errno != EINTR) throw_errno(errno);
    }
  }
  std::uint64_t total = 0;

 private:
  int file_;
  SendfileOptions o_;
  std::string buf_;
  FilePosition position_;
};

/// ≙ _sock_sendfile_native: sendfile(2) until `count` or the end of the
/// file, waiting for room when the socket is full. `transport_fd`: the
/// descriptor belongs to a paused, drained transport (loop.sendfile).
/// SendfileNotAvailableError when the first call fails: the caller may
/// fall back.
Coroutine<std::uint64_t> sendfile_native(EventLoop& loop, int sock, int file, SendfileOptions o, bool transport_fd) {
  struct stat st {};
  if (::fstat(file, &st) != 0 || !S_ISREG(st.st_mode)) throw SendfileNotAvailableError("not a regular file");
  std::uint64_t total = 0;
  FilePosition position{file, o.offset, total};
  off_t offset = static_cast<off_t>(o.offset);
  for (;;) {
    const std::uint64_t want = wanted(o, total);
    if (want == 0) break;
    const ssize_t sent = ::sendfile(sock, file, &offset, static_cast<std::size_t>(std::min(want, max_chunk)));
    if (sent > 0) {
      total += static_cast<std::uint64_t>(sent);
      continue;
    }
    if (sent == 0) break;  // the end of the file
    const int err = errno;
    if (err == EAGAIN || err == EINTR) {
      // Two statements, not `co_await (c ? a : b)`: GCC 12 destroys the
      // Coroutine a conditional expression makes inside a co_await twice
      // (design-notes, "Compilers"; ASan found it here).
      if (transport_fd)
        co_await wait_transport_writable(loop, sock);
      else
        co_await loop.wait_writable(sock);
      continue;
    }
    // The first call failing means sendfile(2) cannot serve this pair (a
    // file system without splice support...): fall back.
    if (total == 0) throw SendfileNotAvailableError("os.sendfile call failed");
    // ≙ the ENOTCONN normalisation of unix_events: the connection was
    // closed in the middle.
    if (err == ENOTCONN) throw_errno(err, "socket is not connected");
    throw_errno(err);
  }
  co_return total;
}

/// ≙ _sock_sendfile_fallback: read() and sock_sendall(). The reads are
/// made on the loop's thread (CPython hands them to the default
/// executor): a regular file is read from the page cache.
Coroutine<std::uint64_t> sock_sendfile_fallback(EventLoop& loop, int sock, int file, SendfileOptions o) {
  FileBlocks blocks(file, o, fallback_read_size);
  for (std::string_view b = blocks.next(); !b.empty(); b = blocks.next()) {
    co_await sock_sendall(loop, sock, b);
    blocks.total += b.size();
  }
  co_return blocks.total;
}

/// "<_SelectorSocketTransport fd=N>"-like, for the messages.
std::string transport_repr(StreamTransport* t, const Transport& transport) {
  if (!t) return "<Transport at " + std::to_string(reinterpret_cast<std::uintptr_t>(&transport)) + ">";
  const char* name = t->is_socket() ? "_SelectorSocketTransport" : "_UnixWritePipeTransport";
  return std::string("<") + name + " fd=" + std::to_string(t->fileno()) + ">";
}

/// ≙ _sendfile_native (selector_events): reading paused, the write buffer
/// drained, then sendfile(2) on the transport's own socket.
Coroutine<std::uint64_t> transport_sendfile_native(EventLoop& loop, std::shared_ptr<StreamTransport> t, int file,
                                                   SendfileOptions o) {
  Future<> empty = t->make_empty_waiter();  // first: it refuses a second sendfile
  const bool resume_reading = t->is_reading();
  t->pause_reading();
  struct Restore {
    StreamTransport& t;
    bool resume;
    ~Restore() {
      t.reset_empty_waiter();
      if (resume) t.resume_reading();
    }
  } restore{*t, resume_reading};
  co_await empty;
  if (t->is_closing()) throw RuntimeError("Transport is closing");
  co_return co_await sendfile_native(loop, t->fileno(), file, o, true);
}

/// ≙ _SendfileFallbackProtocol: stands in for the transport's protocol
/// during the fallback, so that its pause_writing()/resume_writing() pace
/// the writes; restore() gives the transport back.
class SendfileFallbackProtocol final : public Protocol {
 public:
  SendfileFallbackProtocol(EventLoop& loop, StreamTransport& t) : loop_(loop), t_(t), proto_(t.get_protocol()) {
    should_resume_reading_ = t.is_reading();
    should_resume_writing_ = t.protocol_paused();
    t.pause_reading();
    if (should_resume_writing_) write_ready_ = loop.create_future();
  }
  /// Installs this protocol (after make_shared: it needs shared_from_this).
  static std::shared_ptr<SendfileFallbackProtocol> install(EventLoop& loop, StreamTransport& t) {
    auto p = std::make_shared<SendfileFallbackProtocol>(loop, t);
    t.set_protocol(p);
    return p;
  }

  Coroutine<> drain() {
    if (t_.is_closing()) throw_errno(ECONNRESET, "Connection closed by peer");
    if (!write_ready_) co_return;
    Future<> fut = write_ready_;
    co_await fut;
  }
  void connection_lost(std::exception_ptr exc) override {
    if (write_ready_ && !write_ready_.done())
      write_ready_.set_exception(exc ? exc : make_os_error(-ECONNRESET, "Connection is closed by peer"));
    if (proto_) proto_->connection_lost(std::move(exc));
  }
  void pause_writing() override {
    if (!write_ready_) write_ready_ = loop_.create_future();
  }
  void resume_writing() override {
    if (!write_ready_) return;
    if (!write_ready_.done()) write_ready_.set_result();
    write_ready_ = Future<>();
  }
  void data_received(std::string_view) override { throw RuntimeError("Invalid state: reading should be paused"); }
  bool eof_received() override { throw RuntimeError("Invalid state: reading should be paused"); }
  void restore() {
    t_.set_protocol(proto_);
    if (should_resume_reading_) t_.resume_reading();
    if (write_ready_ && !write_ready_.done()) write_ready_.cancel();
    if (should_resume_writing_ && proto_) proto_->resume_writing();
  }

 private:
  EventLoop& loop_;
  StreamTransport& t_;
  std::shared_ptr<Protocol> proto_;
  Future<> write_ready_;
  bool should_resume_reading_ = false;
  bool should_resume_writing_ = false;
};

/// ≙ _sendfile_fallback: 16 KiB blocks through transport.write(), paced by
/// the transport's flow control.
Coroutine<std::uint64_t> transport_sendfile_fallback(EventLoop& loop, std::shared_ptr<StreamTransport> t, int file,
                                                     SendfileOptions o) {
  FileBlocks blocks(file, o, fallback_transport_block);
  auto proto = SendfileFallbackProtocol::install(loop, *t);
  struct Restore {
    SendfileFallbackProtocol& p;
    ~Restore() { p.restore(); }
  } restore{*proto};
  for (std::string_view b = blocks.next(); !b.empty(); b = blocks.next()) {
    co_await proto->drain();
    t->write(b);
    blocks.total += b.size();
  }
  co_return blocks.total;
}

}  // namespace

}  // namespace detail

Coroutine<std::uint64_t> sock_sendfile(EventLoop& loop, int sock, int file, SendfileOptions options) {
  detail::check_nonblocking(sock);
  detail::check_params(sock, options);
  try {
    co_return co_await detail::sendfile_native(loop, sock, file, options, false);
  } catch (const SendfileNotAvailableError&) {
    if (!options.fallback) throw;
  }
  co_return co_await detail::sock_sendfile_fallback(loop, sock, file, options);
}

Coroutine<std::uint64_t> sendfile(EventLoop& loop, const std::shared_ptr<Transport>& transport, int file,
                                  SendfileOptions options) {
  if (transport->is_closing()) throw RuntimeError("Transport is closing");
  auto t = std::dynamic_pointer_cast<detail::StreamTransport>(transport);
  if (!t) throw RuntimeError("sendfile is not supported for transport " + detail::transport_repr(nullptr, *transport));
  if (options.count && *options.count == 0) throw std::invalid_argument("count must be a positive integer (got 0)");
  if (options.offset < 0)
    throw std::invalid_argument("offset must be a non-negative integer (got " + std::to_string(options.offset) + ")");
  if (t->is_socket()) {
    try {
      co_return co_await detail::transport_sendfile_native(loop, t, file, options);
    } catch (const SendfileNotAvailableError&) {
      if (!options.fallback) throw;
    }
  }
  if (!options.fallback)
    throw RuntimeError("fallback is disabled and native sendfile is not supported for transport " +
                       detail::transport_repr(t.get(), *transport));
  co_return co_await detail::transport_sendfile_fallback(loop, t, file, options);
}

}  // namespace asyncio
