// asyncio-cpp: SPDX-License-Identifier: MIT
// ≙ Lib/asyncio/streams.py
#include <asyncio/streams.hpp>

#include <asyncio/exceptions.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/ssl.hpp>
#include <asyncio/tasks.hpp>

#include "detail/uv_error.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace asyncio {

namespace detail {

/// The future a read waits on: a FutureState that can be made pending again.
class ReaderWaiter final : public FutureState<void> {
 public:
  using FutureState<void>::FutureState;
  /// Only when this is the one reference left: nothing can observe it.
  void rearm() noexcept {
    exc_ = nullptr;
    state_ = State::pending;
    flags_ = 0;
  }
};

/// A StreamReader's state. The buffer is `buf[start:]`: consuming from the
/// front only moves `start` (bytearray does the same), and the string is
/// compacted once the consumed part dominates.
struct StreamReaderState {
  explicit StreamReaderState(std::size_t limit) noexcept : limit(limit) {}

  std::size_t refs = 1;
  std::size_t limit;
  std::string buf;
  std::size_t start = 0;
  bool eof = false;
  bool paused = false;
  Future<> waiter;  // the read waiting for data (≙ _waiter); empty if none
  // The last two waiters, made pending again for later waits. Two: the
  // callbacks that woke the last one are still running (and hold it) when
  // the woken task starts its next wait.
  Future<> spares[2];
  unsigned next_spare = 0;
  std::exception_ptr exc;
  std::shared_ptr<Transport> transport;

  std::size_t size() const noexcept { return buf.size() - start; }
  std::string_view view() const noexcept { return {buf.data() + start, size()}; }

  void consume(std::size_t n) noexcept {
    start += n;
    if (start == buf.size()) {
      buf.clear();
      start = 0;
    } else if (start >= 4096 && start * 2 >= buf.size()) {
      buf.erase(0, start);
      start = 0;
    }
  }
  std::string take(std::size_t n) {
    std::string out(buf.data() + start, n);
    consume(n);
    return out;
  }
  std::string take_all() { return take(size()); }

  void wakeup_waiter() noexcept {
    Future<> w = std::move(waiter);
    waiter = {};
    if (w && !w.done()) w.set_result();
  }

  void maybe_resume_transport() {
    if (paused && size() <= limit) {
      paused = false;
      transport->resume_reading();
    }
  }

  /// ≙ _wait_for_data's checks and waiter: the future to await, with
  /// WaitEnd clearing it afterwards (whatever happens). Throws the stored
  /// exception instead, if there is one.
  Future<> begin_wait(const char* func) {
    // A read woken by data may find the connection lost meanwhile: it
    // raises rather than waiting for a wake-up that cannot come.
    if (exc) std::rethrow_exception(exc);
    if (waiter)
      throw RuntimeError(std::string(func) +
                         "() called while another coroutine is already waiting for incoming data");
    // Waiting while paused would deadlock (readexactly(n) with n > limit).
    if (paused) {
      paused = false;
      transport->resume_reading();
    }
    // A wait per read is the common case of a stream: the previous
    // waiter is reused once nothing else refers to it (no task suspended
    // on it, no callbacks queued), instead of a new future each time.
    LoopCore& loop = running_core();
    for (Future<>& f : spares) {
      auto* w = static_cast<ReaderWaiter*>(f.state());
      if (w && w->unique() && w->loop() == &loop) {
        w->rearm();
        waiter = f;
        return waiter;
      }
    }
    Future<>& slot = spares[next_spare++ & 1];
    slot = Future<>(new ReaderWaiter(&loop));
    waiter = slot;
    return waiter;
  }

  /// The readuntil scan (≙ StreamReader.readuntil's loop body): the chunk
  /// when a separator is buffered; nullopt to wait for more. `offset` is
  /// kept across waits (bytes known to hold no separator start).
  std::optional<std::string> scan_until(std::span<const std::string> seps, std::ptrdiff_t& offset) {
    const std::ptrdiff_t min_len = static_cast<std::ptrdiff_t>(seps.front().size());
    const std::ptrdiff_t max_len = static_cast<std::ptrdiff_t>(seps.back().size());
    const std::ptrdiff_t buflen = static_cast<std::ptrdiff_t>(size());
    if (buflen - offset >= min_len) {
      const std::string_view data = view();
      std::size_t match_start = std::string_view::npos, match_end = 0;
      for (const std::string& sep : seps) {
        const std::size_t i = data.find(sep, static_cast<std::size_t>(offset));
        if (i != std::string_view::npos && (match_start == std::string_view::npos || i + sep.size() < match_end)) {
          match_start = i;
          match_end = i + sep.size();
        }
      }
      if (match_start != std::string_view::npos) {
        if (match_start > limit)
          throw LimitOverrunError("Separator is found, but chunk is longer than limit", match_start);
        std::string chunk = take(match_end);
        maybe_resume_transport();
        return chunk;
      }
      offset = std::max<std::ptrdiff_t>(0, buflen + 1 - max_len);
      if (offset > static_cast<std::ptrdiff_t>(limit))
        throw LimitOverrunError("Separator is not found, and chunk exceed the limit",
                                static_cast<std::size_t>(offset));
    }
    // A complete separator may have come with the EOF: checked above first.
    if (eof) throw IncompleteReadError(take_all(), std::nullopt);
    return std::nullopt;
  }

  /// The fast path of readuntil(): the length of the chunk up to the end
  /// of `sep` when it is buffered within the limit, else npos (the
  /// coroutine then waits or raises, scan_until()'s way).
  std::size_t chunk_end(std::string_view sep) const noexcept {
    const std::size_t i = find(view(), sep);
    if (i == std::string_view::npos || i > limit) return std::string_view::npos;
    return i + sep.size();
  }
  /// data.find(sep) for a short separator ("\r\n"): memchr for its first
  /// byte, then a byte loop (no memcmp call per candidate).
  static std::size_t find(std::string_view data, std::string_view sep) noexcept {
    const std::size_t len = sep.size();
    if (data.size() < len) return std::string_view::npos;
    const char* p = data.data();
    const char* const last = data.data() + (data.size() - len);  // the last place a match can start
    while (p <= last) {
      p = static_cast<const char*>(std::memchr(p, sep[0], static_cast<std::size_t>(last - p) + 1));
      if (!p) return std::string_view::npos;
      std::size_t k = 1;
      while (k < len && p[k] == sep[k]) ++k;
      if (k == len) return static_cast<std::size_t>(p - data.data());
      ++p;
    }
    return std::string_view::npos;
  }
};

void retain(StreamReaderState* s) noexcept { ++s->refs; }
void release(StreamReaderState* s) noexcept {
  if (--s->refs == 0) delete s;
}

namespace {

/// A counted reference to a reader's state, held by the read coroutines:
/// the StreamReader handle they were made from may be gone when they run.
class ReaderRef {
 public:
  explicit ReaderRef(StreamReaderState* s) noexcept : s_(s) { retain(s_); }
  ReaderRef(const ReaderRef& o) noexcept : s_(o.s_) { retain(s_); }
  ReaderRef& operator=(const ReaderRef&) = delete;
  ~ReaderRef() { release(s_); }
  StreamReaderState* operator->() const noexcept { return s_; }
  StreamReaderState& operator*() const noexcept { return *s_; }

 private:
  StreamReaderState* s_;
};

/// Clears the reader's waiter when a wait ends, however it ends (≙ the
/// `finally: self._waiter = None` of _wait_for_data).
struct WaitEnd {
  StreamReaderState& s;
  ~WaitEnd() { s.waiter = {}; }
};

void check_exception(const StreamReaderState& s) {
  if (s.exc) std::rethrow_exception(s.exc);
}

Coroutine<std::string> read(ReaderRef s, std::ptrdiff_t n) {
  check_exception(*s);
  if (n == 0) co_return std::string();
  if (n < 0) {
    // ≙ read(-1): read(limit) until EOF, so that a paused transport is
    // resumed as the blocks are taken.
    std::string all;
    for (;;) {
      check_exception(*s);
      if (!s->size() && !s->eof) {
        Future<> w = s->begin_wait("read");
        WaitEnd end{*s};
        co_await w;
      }
      std::string block = s->take(std::min(s->limit, s->size()));
      s->maybe_resume_transport();
      if (block.empty()) break;
      all += block;
    }
    co_return all;
  }
  if (!s->size() && !s->eof) {
    Future<> w = s->begin_wait("read");
    WaitEnd end{*s};
    co_await w;
  }
  std::string data = s->take(std::min(static_cast<std::size_t>(n), s->size()));
  s->maybe_resume_transport();
  co_return data;
}

/// Sorted by length (the shortest match wins a tie) and checked, as
/// readuntil() does before anything else.
std::vector<std::string> separators(std::span<const std::string_view> seps) {
  std::vector<std::string> out(seps.begin(), seps.end());
  if (out.empty()) throw std::invalid_argument("Separator should contain at least one element");
  // Stable, as Python's sorted(key=len); an insertion sort (a handful of
  // separators, and std::stable_sort trips a deprecation in libstdc++ 12
  // under Clang).
  for (std::size_t i = 1; i < out.size(); ++i)
    for (std::size_t j = i; j > 0 && out[j].size() < out[j - 1].size(); --j) std::swap(out[j], out[j - 1]);
  if (out.front().empty()) throw std::invalid_argument("Separator should be at least one-byte string");
  return out;
}

/// A read that fails when awaited (CPython checks arguments in the body).
Coroutine<std::string> raise_on_await(std::exception_ptr e) {
  std::rethrow_exception(e);
  co_return std::string();
}

/// `one` is the separator when there is one (no vector then); `many` the
/// sorted separators otherwise.
Coroutine<std::string> readuntil(ReaderRef s, std::string one, std::vector<std::string> many) {
  const std::span<const std::string> seps = many.empty() ? std::span<const std::string>(&one, 1) : many;
  check_exception(*s);
  std::ptrdiff_t offset = 0;
  for (;;) {
    if (std::optional<std::string> chunk = s->scan_until(seps, offset)) co_return std::move(*chunk);
    Future<> w = s->begin_wait("readuntil");
    WaitEnd end{*s};
    co_await w;
  }
}

Coroutine<std::string> readline(ReaderRef s) {
  static const std::string newline = "\n";
  check_exception(*s);
  std::ptrdiff_t offset = 0;
  for (;;) {
    try {
      if (std::optional<std::string> line = s->scan_until({&newline, 1}, offset)) co_return std::move(*line);
    } catch (IncompleteReadError& e) {
      co_return std::move(e.partial);
    } catch (const LimitOverrunError& e) {
      // ≙ readline: drop the overlong line if its newline arrived, else
      // everything, and raise ValueError.
      if (s->view().substr(std::min(e.consumed, s->size())).starts_with('\n'))
        s->consume(e.consumed + 1);
      else
        s->consume(s->size());
      s->maybe_resume_transport();
      throw std::invalid_argument(e.what());
    }
    Future<> w = s->begin_wait("readuntil");
    WaitEnd end{*s};
    co_await w;
  }
}

Coroutine<std::string> readexactly(ReaderRef s, std::ptrdiff_t n) {
  if (n < 0) throw std::invalid_argument("readexactly size can not be less than zero");
  check_exception(*s);
  if (n == 0) co_return std::string();
  const auto want = static_cast<std::size_t>(n);
  while (s->size() < want) {
    if (s->eof) throw IncompleteReadError(s->take_all(), want);
    Future<> w = s->begin_wait("readexactly");
    WaitEnd end{*s};
    co_await w;
  }
  std::string data = s->take(want);
  s->maybe_resume_transport();
  co_return data;
}

}  // namespace

}  // namespace detail

// ---- StreamReader ------------------------------------------------------------

namespace {

std::size_t checked_limit(std::ptrdiff_t limit) {
  if (limit <= 0) throw std::invalid_argument("Limit cannot be <= 0");
  return static_cast<std::size_t>(limit);
}

}  // namespace

StreamReader::StreamReader(std::ptrdiff_t limit) : s_(new detail::StreamReaderState(checked_limit(limit))) {}

detail::StreamRead StreamReader::read(std::ptrdiff_t n) const { return {s_, detail::StreamRead::Kind::read, n}; }
detail::StreamRead StreamReader::readline() const { return {s_, detail::StreamRead::Kind::readline, 0}; }
detail::StreamRead StreamReader::readuntil(std::string_view separator) const {
  return readuntil(std::span<const std::string_view>(&separator, 1));
}
detail::StreamRead StreamReader::readuntil(std::span<const std::string_view> separators) const {
  return {s_, separators};
}
detail::StreamRead StreamReader::readexactly(std::ptrdiff_t n) const {
  return {s_, detail::StreamRead::Kind::readexactly, n};
}

// ---- StreamRead ----------------------------------------------------------------

namespace detail {

StreamRead::StreamRead(StreamReaderState* s, Kind kind, std::ptrdiff_t n) noexcept : s_(s), n_(n), kind_(kind) {
  retain(s_);
}

StreamRead::StreamRead(StreamReaderState* s, std::span<const std::string_view> seps)
    : s_(s), separator_(seps.size() == 1 ? seps.front() : std::string_view()), kind_(Kind::readuntil) {
  retain(s_);
  if (!separator_.empty()) return;
  // Several separators, or a bad list: the coroutine, made now (the list
  // is copied at the call, as CPython's arguments are bound), is all there
  // is. The separators are checked when the read is awaited, as in CPython.
  std::vector<std::string> sorted;
  std::exception_ptr error;
  try {
    sorted = separators(seps);
  } catch (...) {
    error = std::current_exception();
  }
  if (error)
    wait_ = raise_on_await(error);
  else
    wait_ = detail::readuntil(ReaderRef(s_), std::string(), std::move(sorted));
}

StreamRead::StreamRead(StreamRead&& o) noexcept
    : s_(o.s_),
      n_(o.n_),
      separator_(std::move(o.separator_)),
      wait_(std::move(o.wait_)),
      kind_(o.kind_),
      started_(o.started_) {
  retain(s_);
}

StreamRead::~StreamRead() {
  // Destroyed while waiting (its task's frame destroyed): ≙ the finally
  // of _wait_for_data.
  if (waiter_ && s_->waiter.state() == waiter_.state()) s_->waiter = {};
  release(s_);
}

std::size_t StreamRead::buffered() const noexcept {
  const StreamReaderState& s = *s_;
  // An exception to raise, several separators, a bad argument: the
  // coroutine's way.
  if (s.exc || wait_) return not_ready;
  switch (kind_) {
    case Kind::read:
      if (n_ == 0) return 0;
      // "" at EOF; read(-1) reads on until EOF: the coroutine's way.
      return n_ > 0 && (s.size() || s.eof) ? std::min(static_cast<std::size_t>(n_), s.size()) : not_ready;
    case Kind::readexactly:
      return n_ >= 0 && s.size() >= static_cast<std::size_t>(n_) ? static_cast<std::size_t>(n_) : not_ready;
    case Kind::readline:
      return s.chunk_end("\n");
    case Kind::readuntil:
      return s.chunk_end(separator_);
  }
  return not_ready;
}

std::string StreamRead::take() {
  std::string out = s_->take(ready_);
  s_->maybe_resume_transport();
  return out;
}

void StreamRead::begin_read_wait() {
  // read(n > 0) found neither data nor EOF (buffered() said so).
  if (kind_ != Kind::read || n_ <= 0 || wait_ || s_->exc) return;
  waiter_ = s_->begin_wait("read");  // RuntimeError if another read waits
}

std::string StreamRead::end_read_wait() {
  const Future<> w = std::move(waiter_);
  waiter_ = {};
  if (s_->waiter.state() == w.state()) s_->waiter = {};  // ≙ WaitEnd
  on_waiter_->await_resume();  // CancelledError, or set_exception()'s
  ready_ = std::min(static_cast<std::size_t>(n_), s_->size());
  return take();
}

Coroutine<std::string> StreamRead::waiting() const {
  switch (kind_) {
    case Kind::read:
      return detail::read(ReaderRef(s_), n_);
    case Kind::readexactly:
      return detail::readexactly(ReaderRef(s_), n_);
    case Kind::readline:
      return detail::readline(ReaderRef(s_));
    case Kind::readuntil:
      break;
  }
  return detail::readuntil(ReaderRef(s_), separator_, {});
}

StreamRead::operator Coroutine<std::string>() && {
  if (started_) throw_reused_coroutine();
  started_ = true;
  if (wait_) return std::move(wait_);
  return waiting();
}

}  // namespace detail

bool StreamReader::at_eof() const noexcept { return s_->eof && s_->size() == 0; }
std::exception_ptr StreamReader::exception() const noexcept { return s_->exc; }

void StreamReader::set_exception(std::exception_ptr exc) const {
  s_->exc = exc;
  Future<> w = std::move(s_->waiter);
  s_->waiter = {};
  if (w && !w.done()) w.set_exception(exc);
}

void StreamReader::feed_data(std::string_view data) const {
  detail::StreamReaderState& s = *s_;
  if (data.empty() || s.eof) return;  // CPython asserts: no data after EOF
  s.buf.append(data);
  s.wakeup_waiter();
  if (s.transport && !s.paused && s.size() > 2 * s.limit) {
    s.transport->pause_reading();
    s.paused = true;
  }
}

void StreamReader::feed_eof() const {
  s_->eof = true;
  s_->wakeup_waiter();
}

void StreamReader::set_transport(std::shared_ptr<Transport> transport) const { s_->transport = std::move(transport); }
std::size_t StreamReader::limit() const noexcept { return s_->limit; }
std::string_view StreamReader::buffer() const noexcept { return s_->view(); }

std::string StreamReader::repr() const {
  std::string info = "<StreamReader";
  if (s_->size()) info += " " + std::to_string(s_->size()) + " bytes";
  if (s_->eof) info += " eof";
  if (s_->limit != static_cast<std::size_t>(detail::default_stream_limit)) info += " limit=" + std::to_string(s_->limit);
  if (s_->waiter) info += " waiter=<Future pending>";
  if (s_->exc) info += " exception=" + describe(s_->exc);
  if (s_->transport) info += " transport=<Transport>";
  if (s_->paused) info += " paused";
  return info + ">";
}

// ---- FlowControlMixin ----------------------------------------------------------

void FlowControlMixin::pause_writing() { flow_.pause(); }
void FlowControlMixin::resume_writing() { flow_.resume(); }
void FlowControlMixin::connection_lost(std::exception_ptr exc) { flow_.lost(exc); }
Coroutine<> FlowControlMixin::drain_helper() { return flow_.drain(); }

// ---- StreamReaderProtocol ----------------------------------------------------

StreamReaderProtocol::StreamReaderProtocol(StreamReader reader, ClientConnectedCallback client_connected_cb)
    : reader_(std::move(reader)), server_side_(static_cast<bool>(client_connected_cb)) {
  if (client_connected_cb)
    client_connected_cb_ = std::make_shared<const ClientConnectedCallback>(std::move(client_connected_cb));
}

StreamReaderProtocol::StreamReaderProtocol(StreamReader reader,
                                           std::shared_ptr<const ClientConnectedCallback> client_connected_cb)
    : reader_(std::move(reader)),
      client_connected_cb_(std::move(client_connected_cb)),
      server_side_(static_cast<bool>(client_connected_cb_)) {}

namespace detail {
namespace {

/// A handler's coroutine with the callback that made it: the callback (a
/// lambda's closure) lives in this frame until the handler has finished.
Coroutine<> keep_alive(std::shared_ptr<const ClientConnectedCallback>, Coroutine<> handler) { co_await handler; }

}  // namespace
}  // namespace detail

StreamReaderProtocol::~StreamReaderProtocol() {
  // ≙ __del__: the closed future's exception is not "never retrieved".
  if (closed_ && closed_.done() && !closed_.cancelled()) closed_.exception();
}

void StreamReaderProtocol::connection_made(Transport& transport) {
  transport_ = transport.shared_from_this();
  if (reader_) reader_->set_transport(transport_);
  if (!client_connected_cb_) return;
  // Called once: let go of it now. Whatever it captured (a future holding
  // the writer, say) would otherwise keep this protocol alive through the
  // writer, a cycle CPython's garbage collector would break.
  std::shared_ptr<const ClientConnectedCallback> cb = std::move(client_connected_cb_);
  StreamWriter writer(transport_, shared_from_this(), reader_);
  Coroutine<> res = (*cb)(*reader_, std::move(writer));
  if (!res) return;
  EventLoop& loop = get_running_loop();
  Task<> task = loop.create_task(detail::keep_alive(std::move(cb), std::move(res)));
  // ≙ 3.12's done-callback: a failed handler is reported and its
  // connection closed; a cancelled one is only closed.
  std::shared_ptr<Transport> t = transport_;
  task.add_done_callback([t](Task<> done) {
    if (done.cancelled()) {
      t->close();
      return;
    }
    if (std::exception_ptr exc = done.exception()) {
      ExceptionContext ctx;
      ctx.message = "Unhandled exception in client_connected_cb";
      ctx.exception = exc;
      done.get_loop().call_exception_handler(ctx);
      t->close();
    }
  });
}

void StreamReaderProtocol::replace_transport(std::shared_ptr<Transport> transport) {
  transport_ = std::move(transport);
  // The reader pauses and resumes the TLS transport from now on.
  if (reader_) reader_->set_transport(transport_);
}

void StreamReaderProtocol::connection_lost(std::exception_ptr exc) {
  if (reader_) {
    if (!exc)
      reader_->feed_eof();
    else
      reader_->set_exception(exc);
  }
  is_closed_ = true;
  closed_exc_ = exc;
  if (closed_ && !closed_.done()) {
    if (exc)
      closed_.set_exception(exc);
    else
      closed_.set_result();
  }
  FlowControlMixin::connection_lost(exc);
  reader_.reset();
  transport_.reset();
}

void StreamReaderProtocol::data_received(std::string_view data) {
  if (reader_) reader_->feed_data(data);
}

bool StreamReaderProtocol::eof_received() {
  if (reader_) reader_->feed_eof();
  return true;
}

Coroutine<> StreamReaderProtocol::wait_closed() {
  // The future is made when first awaited (no future per connection for
  // the many that never wait_closed()).
  if (!closed_ || closed_.cancelled()) {
    closed_ = get_running_loop().create_future();
    if (is_closed_) {
      if (closed_exc_)
        closed_.set_exception(closed_exc_);
      else
        closed_.set_result();
    }
  }
  Future<> closed = closed_;
  co_await closed;
}

// ---- StreamWriter --------------------------------------------------------------

namespace detail {

struct StreamWriterState {
  std::shared_ptr<Transport> transport;
  std::shared_ptr<StreamReaderProtocol> protocol;
  std::optional<StreamReader> reader;
  ~StreamWriterState() {
    // ≙ StreamWriter.__del__: the last writer closes an open transport.
    try {
      if (transport && !transport->is_closing()) transport->close();
    } catch (...) {
    }
  }
};

namespace {

Coroutine<> drain(std::shared_ptr<StreamWriterState> w) {
  if (w->reader) {
    if (std::exception_ptr exc = w->reader->exception()) std::rethrow_exception(exc);
  }
  if (w->transport->is_closing()) {
    // Yield so that connection_lost() can run: without it a loop of
    // write(); drain() on a closed socket would never see the error.
    co_await YieldAwaiter{};
  }
  Coroutine<> helper = w->protocol->drain_helper();
  co_await helper;
}

Coroutine<> wait_closed(std::shared_ptr<StreamWriterState> w) {
  Coroutine<> closed = w->protocol->wait_closed();
  co_await closed;
}

Coroutine<> writer_start_tls(std::shared_ptr<StreamWriterState> w, ssl::SSLContext ctx, StartTlsOptions o) {
  // ≙ StreamWriter.start_tls
  if (o.server_side)
    throw std::invalid_argument("StreamWriter.start_tls() takes no server_side: the writer knows its side");
  o.server_side = w->protocol->server_side();
  Coroutine<> drained = drain(w);
  co_await drained;
  Coroutine<std::shared_ptr<Transport>> upgrade =
      asyncio::start_tls(get_running_loop(), w->transport, w->protocol, std::move(ctx), o);
  std::shared_ptr<Transport> transport = co_await upgrade;
  w->transport = transport;
  w->protocol->replace_transport(std::move(transport));
}

}  // namespace

}  // namespace detail

StreamWriter::StreamWriter(std::shared_ptr<Transport> transport, std::shared_ptr<StreamReaderProtocol> protocol,
                           std::optional<StreamReader> reader)
    : s_(std::make_shared<detail::StreamWriterState>()) {
  s_->transport = std::move(transport);
  s_->protocol = std::move(protocol);
  s_->reader = std::move(reader);
}

Coroutine<> StreamWriter::start_tls(ssl::SSLContext sslcontext, StartTlsOptions options) const {
  return detail::writer_start_tls(state(), std::move(sslcontext), options);
}

const std::shared_ptr<detail::StreamWriterState>& StreamWriter::state() const {
  if (!s_) throw RuntimeError("StreamWriter object is not initialized.");
  return s_;
}

Transport& StreamWriter::transport() const { return *state()->transport; }
void StreamWriter::write(std::string_view data) const { state()->transport->write(data); }
void StreamWriter::writelines(std::span<const std::string_view> data) const { state()->transport->writelines(data); }
void StreamWriter::writelines(std::initializer_list<std::string_view> data) const {
  state()->transport->writelines(data);
}
void StreamWriter::write_eof() const { state()->transport->write_eof(); }
bool StreamWriter::can_write_eof() const { return state()->transport->can_write_eof(); }
void StreamWriter::close() const { state()->transport->close(); }
bool StreamWriter::is_closing() const { return state()->transport->is_closing(); }
Coroutine<> StreamWriter::wait_closed() const { return detail::wait_closed(state()); }
detail::StreamDrain StreamWriter::drain() const { return detail::StreamDrain(state()); }

namespace detail {

bool StreamDrain::ready() const noexcept {
  // ≙ the checks before each await of StreamWriter.drain().
  return !(w_->reader && w_->reader->exception()) && !w_->transport->is_closing() && w_->protocol->drain_ready();
}

Coroutine<> StreamDrain::waiting() const { return detail::drain(w_); }

StreamDrain::operator Coroutine<>() && {
  if (std::exchange(started_, true)) throw_reused_coroutine();
  return detail::drain(std::move(w_));
}

}  // namespace detail
std::any StreamWriter::get_extra_info(std::string_view name, std::any default_value) const {
  return state()->transport->get_extra_info(name, std::move(default_value));
}

// ---- open_connection / start_server -----------------------------------------

namespace detail {

namespace {

std::pair<StreamReader, StreamWriter> streams_of(ConnectionResult connection, StreamReader reader) {
  auto protocol = std::static_pointer_cast<StreamReaderProtocol>(std::move(connection.second));
  return {reader, StreamWriter(std::move(connection.first), std::move(protocol), reader)};
}

ProtocolFactory stream_factory(ClientConnectedCallback cb, std::ptrdiff_t limit) {
  checked_limit(limit);
  auto shared = std::make_shared<const ClientConnectedCallback>(std::move(cb));
  return [shared, limit] { return std::make_shared<StreamReaderProtocol>(StreamReader(limit), shared); };
}

}  // namespace

// Coroutines (not plain functions) so that, as in CPython, nothing happens
// before they are awaited, the running loop included.

Coroutine<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, int port,
                                                                 ConnectionOptions options) {
  StreamReader reader(options.limit);
  auto protocol = std::make_shared<StreamReaderProtocol>(reader);
  ProtocolFactory factory = [protocol] { return protocol; };
  Coroutine<ConnectionResult> connect =
      create_connection(get_running_loop(), std::move(factory), std::move(host), port, options);
  co_return streams_of(co_await connect, reader);
}

Coroutine<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path, ConnectionOptions options) {
  StreamReader reader(options.limit);
  auto protocol = std::make_shared<StreamReaderProtocol>(reader);
  ProtocolFactory factory = [protocol] { return protocol; };
  Coroutine<ConnectionResult> connect =
      create_unix_connection(get_running_loop(), std::move(factory), std::move(path), options);
  co_return streams_of(co_await connect, reader);
}

Coroutine<std::pair<StreamReader, StreamWriter>> open_adopted(ConnectionOptions options, Adopt what) {
  StreamReader reader(options.limit);
  auto protocol = std::make_shared<StreamReaderProtocol>(reader);
  ProtocolFactory factory = [protocol] { return protocol; };
  Coroutine<ConnectionResult> connect =
      adopt_connection(get_running_loop(), std::move(factory), options.sock, what, options);
  co_return streams_of(co_await connect, reader);
}

Coroutine<Server> start_adopted(ClientConnectedCallback cb, ServerOptions options, bool unix_socket) {
  ProtocolFactory factory = stream_factory(std::move(cb), options.limit);
  Coroutine<Server> create = adopt_server(get_running_loop(), std::move(factory), options, unix_socket);
  co_return co_await create;
}

Coroutine<Server> start_server(ClientConnectedCallback cb, std::vector<std::string> hosts, int port,
                               ServerOptions options) {
  ProtocolFactory factory = stream_factory(std::move(cb), options.limit);
  Coroutine<Server> create = create_server(get_running_loop(), std::move(factory), std::move(hosts), port, options);
  co_return co_await create;
}

Coroutine<Server> start_unix_server(ClientConnectedCallback cb, std::string path, ServerOptions options) {
  ProtocolFactory factory = stream_factory(std::move(cb), options.limit);
  Coroutine<Server> create = create_unix_server(get_running_loop(), std::move(factory), std::move(path), options);
  co_return co_await create;
}

}  // namespace detail

AsyncGenerator<std::string> aiter(StreamReader reader) {
  while (true) {
    std::string line = co_await reader.readline();
    if (line.empty()) break;  // ≙ __anext__: b'' raises StopAsyncIteration
    co_yield std::move(line);
  }
}

}  // namespace asyncio
