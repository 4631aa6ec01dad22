// asyncio-cpp: SPDX-License-Identifier: MIT
// High-level streams: StreamReader, StreamWriter, open_connection and
// start_server. ≙ Lib/asyncio/streams.py
#ifndef ASYNCIO_STREAMS_HPP
#define ASYNCIO_STREAMS_HPP

#include <asyncio/asyncgen.hpp>
#include <asyncio/base_events.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/detail/flow_control.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/protocols.hpp>
#include <asyncio/transports.hpp>

#include <any>
#include <cstddef>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

namespace detail {
/// streams._DEFAULT_LIMIT: 64 KiB.
inline constexpr std::ptrdiff_t default_stream_limit = 1 << 16;
struct StreamReaderState;
struct StreamWriterState;
/// StreamReader's counting (not atomic: a reader belongs to one loop's
/// thread, and a read copies the handle into its frame).
void retain(StreamReaderState* s) noexcept;
void release(StreamReaderState* s) noexcept;

/// What StreamReader's reads return: an operation awaitable once
/// (≙ awaiting the coroutine `reader.readuntil(...)` makes), which converts
/// to a Coroutine<std::string> for create_task(), gather(), wait_for()...
///
/// Awaiting it first looks at the buffer: when what the read needs is there
/// (and no exception is set), it is taken at once, without a coroutine
/// frame, a copy of the separator list or a second search, and without a
/// suspension, as CPython's reads only await `_wait_for_data()` when the
/// buffer lacks the data. Otherwise the read's coroutine is awaited inside
/// the awaiting task (design-notes.md, "Networking"). The operation holds a
/// counted reference to the reader and its own copy of the separator.
class [[nodiscard]] StreamRead {
 public:
  using coroutine_type = Coroutine<std::string>;
  enum class Kind : unsigned char { read, readexactly, readline, readuntil };

  /// read(n), readexactly(n), readline().
  StreamRead(StreamReaderState* s, Kind kind, std::ptrdiff_t n) noexcept;
  /// readuntil(separators).
  StreamRead(StreamReaderState* s, std::span<const std::string_view> separators);
  StreamRead(StreamRead&& o) noexcept;
  StreamRead& operator=(StreamRead&&) = delete;
  ~StreamRead();

  bool await_ready() {
    if (std::exchange(started_, true)) [[unlikely]]
      throw_reused_coroutine();
    ready_ = buffered();
    if (ready_ != not_ready) return true;
    begin_read_wait();
    return false;
  }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> parent) {
    if (waiter_) {
      on_waiter_.emplace(waiter_.state(), WaitEntry::Nothing{});
      return on_waiter_->await_suspend(parent);
    }
    return awaited_.suspend(wait_ ? std::move(wait_) : waiting(), parent);
  }
  std::string await_resume() {
    if (ready_ != not_ready) return take();
    if (waiter_) return end_read_wait();
    return awaited_.resume();
  }
  /// The read as a coroutine (not yet awaited).
  operator Coroutine<std::string>() &&;

 private:
  static constexpr std::size_t not_ready = static_cast<std::size_t>(-1);
  /// The bytes to take now, or not_ready when the read must run its
  /// coroutine (to wait, or to raise).
  std::size_t buffered() const noexcept;
  std::string take();
  /// read(n > 0) on an empty buffer waits once, then takes what came
  /// (≙ read's one `await self._wait_for_data('read')`): on the reader's
  /// waiter future itself, without the coroutine (other reads that must
  /// wait run their coroutine).
  void begin_read_wait();
  std::string end_read_wait();
  Coroutine<std::string> waiting() const;

  StreamReaderState* s_;
  std::ptrdiff_t n_ = 0;
  std::string separator_;         // readuntil() with one separator
  Coroutine<std::string> wait_;   // made at the call for several separators or bad ones
  AwaitedCoroutine<std::string> awaited_;
  Future<> waiter_;  // read(n)'s wait
  std::optional<FutureAwaiter<WaitEntry::Nothing>> on_waiter_;
  std::size_t ready_ = not_ready;
  Kind kind_;
  bool started_ = false;
};
}  // namespace detail

/// A buffered byte stream read by coroutines (≙ asyncio.StreamReader). A
/// copyable handle: copies refer to the same reader, as Python names do.
///
/// Only one coroutine may wait for data at a time (RuntimeError otherwise).
/// Every read is cancellable: a cancelled read leaves the buffered data in
/// place. Reads rethrow the exception given to set_exception(), such as the
/// connection error a transport reports. Not thread-safe, copies included:
/// use a reader on its loop's thread only.
class StreamReader {
 public:
  /// `limit` bounds the line readline() and readuntil() may return, and
  /// the buffer: over 2 × limit the transport is paused. Throws
  /// std::invalid_argument("Limit cannot be <= 0").
  explicit StreamReader(std::ptrdiff_t limit = detail::default_stream_limit);
  StreamReader(const StreamReader& o) noexcept : s_(o.s_) { detail::retain(s_); }
  StreamReader(StreamReader&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  StreamReader& operator=(StreamReader o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~StreamReader() {
    if (s_) detail::release(s_);
  }

  /// Reads up to `n` bytes: `n == 0` gives "" at once; `n < 0` reads until
  /// EOF; otherwise waits for at least one byte (or EOF) and returns at
  /// most `n`. "" at EOF. Not bounded by the limit.
  ///
  /// Every read returns a detail::StreamRead: `co_await` it (taken from the
  /// buffer without a coroutine frame or a suspension when the data is
  /// there), or pass it where a Coroutine<std::string> goes
  /// (create_task(), gather(), wait_for(), run_until_complete()...).
  detail::StreamRead read(std::ptrdiff_t n = -1) const;
  /// Reads a line, up to and including "\n". At EOF gives the partial line
  /// ("" if none). A line longer than the limit throws
  /// std::invalid_argument (LimitOverrunError's message); the line is
  /// dropped from the buffer if its "\n" arrived, else the buffer is
  /// cleared.
  detail::StreamRead readline() const;
  /// Reads up to and including `separator`. EOF first throws
  /// IncompleteReadError(partial, nullopt) and clears the buffer; data over
  /// the limit throws LimitOverrunError and stays buffered. Throws
  /// std::invalid_argument("Separator should be at least one-byte string").
  detail::StreamRead readuntil(std::string_view separator = "\n") const;
  /// 3.13: the shortest data that ends with any of `separators`.
  /// std::invalid_argument("Separator should contain at least one
  /// element") when there is none.
  detail::StreamRead readuntil(std::span<const std::string_view> separators) const;
  detail::StreamRead readuntil(std::initializer_list<std::string_view> separators) const {
    return readuntil(std::span<const std::string_view>(separators.begin(), separators.size()));
  }
  /// Reads exactly `n` bytes; EOF first throws IncompleteReadError(partial,
  /// n) and clears the buffer. Not bounded by the limit. Throws
  /// std::invalid_argument("readexactly size can not be less than zero").
  detail::StreamRead readexactly(std::ptrdiff_t n) const;

  /// True when feed_eof() was called and the buffer is empty.
  bool at_eof() const noexcept;
  /// The exception set with set_exception() (null if none).
  std::exception_ptr exception() const noexcept;
  /// Makes the waiting read and every later read throw `exc`.
  void set_exception(std::exception_ptr exc) const;
  /// Appends data to the buffer and wakes the waiting read (the protocol's
  /// side). Pauses the transport when the buffer exceeds 2 × limit.
  void feed_data(std::string_view data) const;
  /// Marks the end of the stream and wakes the waiting read.
  void feed_eof() const;
  /// The transport to pause and resume for flow control.
  void set_transport(std::shared_ptr<Transport> transport) const;

  /// The limit given to the constructor.
  std::size_t limit() const noexcept;
  /// The bytes buffered and not yet read (≙ the private `_buffer`; for
  /// tests and debugging). Valid until the reader is next used.
  std::string_view buffer() const noexcept;
  /// `<StreamReader 4 bytes eof limit=123 ...>`, as CPython's repr.
  std::string repr() const;

  friend bool operator==(const StreamReader& a, const StreamReader& b) noexcept { return a.s_ == b.s_; }

 private:
  detail::StreamReaderState* s_;  // null only once moved from
};

/// The flow-control half of the stream protocol (≙ streams.FlowControlMixin):
/// drain_helper() waits while the transport's write buffer is over its
/// high-water mark.
class FlowControlMixin : public Protocol {
 public:
  void pause_writing() override;
  void resume_writing() override;
  void connection_lost(std::exception_ptr exc) override;
  /// Returns at once unless writing is paused; then waits for
  /// resume_writing() (or connection_lost(), which gives its exception).
  /// Any number of coroutines may wait. After the connection is lost throws
  /// std::system_error(std::errc::connection_reset) "Connection lost".
  Coroutine<> drain_helper();
  /// True when drain_helper() would return at once: writing is not paused
  /// and the connection is not lost (StreamWriter::drain()'s fast path).
  bool drain_ready() const noexcept { return !flow_.paused() && !flow_.is_lost(); }

 private:
  detail::FlowControl flow_;
};

class StreamWriter;

namespace detail {
/// What StreamWriter::drain() returns: an operation awaitable once, which
/// converts to a Coroutine<> (create_task(), wait_for()...). Awaiting it
/// returns at once, without a coroutine frame, when CPython's drain() would
/// not await (no reader exception, the transport not closing, writing not
/// paused, the connection not lost); otherwise it awaits drain()'s
/// coroutine in the awaiting task.
class [[nodiscard]] StreamDrain {
 public:
  using coroutine_type = Coroutine<>;
  explicit StreamDrain(std::shared_ptr<StreamWriterState> w) noexcept : w_(std::move(w)) {}
  StreamDrain(StreamDrain&& o) noexcept : w_(std::move(o.w_)), started_(o.started_) {}
  StreamDrain& operator=(StreamDrain&&) = delete;

  bool await_ready() {
    if (std::exchange(started_, true)) [[unlikely]]
      throw_reused_coroutine();
    return ready();
  }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> parent) {
    return wait_.suspend(waiting(), parent);
  }
  void await_resume() {
    if (wait_.suspended()) wait_.resume();
  }
  /// The drain as a coroutine (not yet awaited).
  operator Coroutine<>() &&;

 private:
  bool ready() const noexcept;
  Coroutine<> waiting() const;

  std::shared_ptr<StreamWriterState> w_;
  AwaitedCoroutine<void> wait_;
  bool started_ = false;
};
}  // namespace detail

/// What start_server() calls for each connection: a callable taking
/// `(StreamReader, StreamWriter)` that returns a Coroutine<> (run as a
/// task) or nothing.
using ClientConnectedCallback = std::function<Coroutine<>(StreamReader, StreamWriter)>;

/// Adapts a transport to a StreamReader (≙ asyncio.StreamReaderProtocol).
/// With a client_connected_cb (server side) it also makes the StreamWriter
/// and runs the callback. An exception escaping the callback's task is
/// reported as "Unhandled exception in client_connected_cb" and the
/// transport is closed, as is the transport of a cancelled callback task.
class StreamReaderProtocol : public FlowControlMixin, public std::enable_shared_from_this<StreamReaderProtocol> {
 public:
  explicit StreamReaderProtocol(StreamReader reader, ClientConnectedCallback client_connected_cb = {});
  /// The callback shared by every connection of a server: each handler's
  /// task holds it until the coroutine it made has finished (a lambda
  /// coroutine refers to its closure), so neither the server nor the
  /// protocol has to outlive the handler.
  StreamReaderProtocol(StreamReader reader, std::shared_ptr<const ClientConnectedCallback> client_connected_cb);
  ~StreamReaderProtocol() override;

  void connection_made(Transport& transport) override;
  void connection_lost(std::exception_ptr exc) override;
  void data_received(std::string_view data) override;
  bool eof_received() override;

  /// Waits for connection_lost() (≙ _get_close_waiter): returns, or throws
  /// the exception the connection was lost with.
  Coroutine<> wait_closed();
  /// Library use (StreamWriter::start_tls): the transport after a TLS
  /// upgrade (≙ _replace_transport), and whether this is a server's.
  void replace_transport(std::shared_ptr<Transport> transport);
  bool server_side() const noexcept { return server_side_; }

 private:
  std::optional<StreamReader> reader_;
  std::shared_ptr<const ClientConnectedCallback> client_connected_cb_;
  std::shared_ptr<Transport> transport_;
  Future<> closed_;
  std::exception_ptr closed_exc_;
  bool is_closed_ = false;
  bool server_side_ = false;  // made with a client_connected_cb
};

/// Writes to a transport (≙ asyncio.StreamWriter). A copyable handle: copies
/// refer to the same writer. When the last handle goes away with the
/// transport still open, the transport is closed (as CPython's __del__).
class StreamWriter {
 public:
  /// An empty writer, to be assigned later (≙ `writer = None` before the
  /// connection exists): every member throws RuntimeError("StreamWriter
  /// object is not initialized.") until then.
  StreamWriter() noexcept = default;
  StreamWriter(std::shared_ptr<Transport> transport, std::shared_ptr<StreamReaderProtocol> protocol,
               std::optional<StreamReader> reader);
  /// False while empty.
  explicit operator bool() const noexcept { return static_cast<bool>(s_); }

  /// The underlying transport.
  Transport& transport() const;
  /// Writes without blocking (see Transport::write); pair with drain().
  void write(std::string_view data) const;
  void writelines(std::span<const std::string_view> data) const;
  void writelines(std::initializer_list<std::string_view> data) const;
  void write_eof() const;
  bool can_write_eof() const;
  /// Closes the transport; is_closing() is true at once.
  void close() const;
  bool is_closing() const;
  /// Waits until the connection is closed (connection_lost() ran); throws
  /// the error it was lost with, if any.
  Coroutine<> wait_closed() const;
  /// Waits until it is appropriate to write more (the write buffer under
  /// its high-water mark). Throws the reader's exception if one is set;
  /// after the connection is lost, std::system_error with
  /// std::errc::connection_reset, "Connection lost". Cancellable. Gives
  /// an operation (no coroutine frame when there is nothing to wait for),
  /// which converts to Coroutine<>.
  detail::StreamDrain drain() const;
  /// The transport's get_extra_info().
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const;
  /// Upgrades the connection to TLS (≙ StreamWriter.start_tls, STARTTLS):
  /// drains, then runs the handshake (server side for a start_server()
  /// connection); the writer and its reader go on over TLS. Errors as
  /// start_tls() (base_events.hpp); `options.server_side` must stay false
  /// (std::invalid_argument: the writer knows its side). `sslcontext` is
  /// copied.
  Coroutine<> start_tls(ssl::SSLContext sslcontext, StartTlsOptions options = {}) const;

 private:
  const std::shared_ptr<detail::StreamWriterState>& state() const;
  std::shared_ptr<detail::StreamWriterState> s_;
};

namespace detail {
Coroutine<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, int port,
                                                                 ConnectionOptions options);
Coroutine<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path, ConnectionOptions options);
Coroutine<Server> start_server(ClientConnectedCallback cb, std::vector<std::string> hosts, int port,
                               ServerOptions options);
Coroutine<Server> start_unix_server(ClientConnectedCallback cb, std::string path, ServerOptions options);
Coroutine<std::pair<StreamReader, StreamWriter>> open_adopted(ConnectionOptions options, Adopt what);
Coroutine<Server> start_adopted(ClientConnectedCallback cb, ServerOptions options, bool unix_socket);

/// A client_connected_cb that returns nothing becomes one returning an
/// empty Coroutine (nothing to run as a task).
template <class F>
ClientConnectedCallback client_connected(F&& f) {
  using R = std::invoke_result_t<F&, StreamReader, StreamWriter>;
  if constexpr (std::is_same_v<R, Coroutine<>>) {
    return ClientConnectedCallback(std::forward<F>(f));
  } else {
    static_assert(std::is_void_v<R>, "client_connected_cb must return Coroutine<> or void");
    return [f = std::forward<F>(f)](StreamReader r, StreamWriter w) mutable {
      f(std::move(r), std::move(w));
      return Coroutine<>();
    };
  }
}
}  // namespace detail

/// Connects over TCP and returns `(reader, writer)`
/// (≙ asyncio.open_connection): `auto [reader, writer] = co_await
/// open_connection("127.0.0.1", 8888);`. Errors and cancellation as
/// create_connection(); `options.limit` is the reader's limit.
inline Coroutine<std::pair<StreamReader, StreamWriter>> open_connection(std::string_view host, int port,
                                                                        ConnectionOptions options = {}) {
  return detail::open_connection(std::string(host), port, options);
}

/// open_connection(sock=...): streams over an already connected socket
/// `options.sock` (a socket pair, an inherited connection), which the
/// transport owns once made. Errors as create_connection(sock=...).
inline Coroutine<std::pair<StreamReader, StreamWriter>> open_connection(ConnectionOptions options) {
  return detail::open_adopted(options, detail::Adopt::connection);
}

/// open_unix_connection(sock=...), an already connected Unix socket.
inline Coroutine<std::pair<StreamReader, StreamWriter>> open_unix_connection(ConnectionOptions options) {
  return detail::open_adopted(options, detail::Adopt::unix_connection);
}

/// open_connection() to a Unix socket (≙ asyncio.open_unix_connection).
inline Coroutine<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string_view path,
                                                                             ConnectionOptions options = {}) {
  return detail::open_unix_connection(std::string(path), options);
}

/// Starts a TCP server calling `client_connected_cb(reader, writer)` for
/// each connection (≙ asyncio.start_server); a callback returning a
/// Coroutine<> runs as a task. Options and errors as create_server(). The
/// server keeps its own copy of the callback, and each handler's task keeps
/// it alive until the handler has finished: a capturing lambda coroutine is
/// a correct handler whatever happens to the caller's object or the server.
///
/// Under GCC 12, a lambda written inside the co_await that captures by value
/// something with a destructor does not compile (that compiler destroys it
/// twice, see ASYNCIO_GCC12_CALLABLE_CHECK): name it first.
template <class F>
Coroutine<Server> start_server(F&& client_connected_cb, std::string_view host, int port,
                               ServerOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::start_server(detail::client_connected(std::forward<F>(client_connected_cb)), {std::string(host)},
                              port, options);
}

/// start_server() on several hosts (≙ a sequence as `host`), as
/// create_server(): each address bound once. Name the vector first under
/// GCC 12.
template <class F>
Coroutine<Server> start_server(F&& client_connected_cb, const std::vector<std::string>& hosts, int port,
                               ServerOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::start_server(detail::client_connected(std::forward<F>(client_connected_cb)), hosts, port, options);
}

/// `host = None`: every interface, as an empty host.
template <class F>
Coroutine<Server> start_server(F&& client_connected_cb, std::nullptr_t, int port, ServerOptions options = {}) {
  return start_server(std::forward<F>(client_connected_cb), std::string_view(), port, options);
}

/// start_server(sock=...): serves on an already bound socket
/// `options.sock`. Errors as create_server(sock=...).
template <class F>
Coroutine<Server> start_server(F&& client_connected_cb, ServerOptions options) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::start_adopted(detail::client_connected(std::forward<F>(client_connected_cb)), options, false);
}

/// start_unix_server(sock=...), an already bound Unix socket.
template <class F>
Coroutine<Server> start_unix_server(F&& client_connected_cb, ServerOptions options) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::start_adopted(detail::client_connected(std::forward<F>(client_connected_cb)), options, true);
}

/// start_server() on a Unix socket (≙ asyncio.start_unix_server).
template <class F>
Coroutine<Server> start_unix_server(F&& client_connected_cb, std::string_view path, ServerOptions options = {}) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::start_unix_server(detail::client_connected(std::forward<F>(client_connected_cb)),
                                   std::string(path), options);
}

/// `async for line in reader:` (≙ StreamReader.__aiter__/__anext__): the
/// lines readline() gives, the last one without "\n" if the data ends so;
/// ends at EOF. readline()'s errors propagate. The generator holds a copy
/// of the handle. Spelling: `auto lines = aiter(reader); for (auto it =
/// co_await lines.begin(); it != lines.end(); co_await ++it) use(*it);`.
AsyncGenerator<std::string> aiter(StreamReader reader);

}  // namespace asyncio

#endif  // ASYNCIO_STREAMS_HPP
