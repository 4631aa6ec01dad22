// libFuzzer target: StreamReader against a simple model (issue 5, item 4).
//
// Each input gives a limit, the stream's bytes (over a small alphabet, so
// that separators match often), the sizes of the chunks it is fed in, and
// a list of reads: readline, readuntil with one or several separators,
// readexactly, read(n), read(-1). A feeder task feeds the chunks (yielding
// between them) and then EOF; a reader task runs the reads. The model is
// the whole stream and the position of the next unread byte: every result
// must be the next bytes of the stream, every error must be the one the
// rules allow (a limit error may come early when data arrives in pieces,
// never late), and the reader's buffer must always be the bytes after that
// position.
#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_stream_reader: %s %s\n", what, detail.c_str());
  std::abort();
}

#define CHECK(cond, ...)        \
  do {                          \
    if (!(cond)) fail(#cond, ##__VA_ARGS__); \
  } while (0)

enum class Op : std::uint8_t { readline, readuntil, readuntil_multi, readexactly, read, read_all, count };

struct Read {
  Op op;
  std::ptrdiff_t n = 0;
  std::vector<std::string> seps;
};

struct Case {
  std::ptrdiff_t limit = 1;
  std::string content;
  std::vector<std::size_t> chunks;
  std::vector<Read> reads;
  std::size_t fed = 0;  // bytes fed so far (by the feeder task)
};

const char* const separators[] = {"\n", "a", "ab", "ba", "aab", "xx", "\nx", "bbb"};

std::string alphabet(std::string raw) {
  for (char& c : raw) c = "ab\nx"[static_cast<unsigned char>(c) % 4];
  return raw;
}

asyncio::Coroutine<> feeder(asyncio::StreamReader reader, Case& c) {
  for (std::size_t n : c.chunks) {
    reader.feed_data(std::string_view(c.content).substr(c.fed, n));
    c.fed += n;
    co_await asyncio::sleep(0);
  }
  reader.feed_data(std::string_view(c.content).substr(c.fed));
  c.fed = c.content.size();
  co_await asyncio::sleep(0);
  reader.feed_eof();
}

/// The reader's buffer is always the stream's bytes from `pos` on.
void check_buffer(const asyncio::StreamReader& reader, const Case& c, std::size_t pos) {
  const std::string_view buf = reader.buffer();
  CHECK(c.fed >= buf.size());
  CHECK(c.fed - buf.size() == pos, "pos " + std::to_string(pos) + " fed " + std::to_string(c.fed));
  CHECK(buf == std::string_view(c.content).substr(pos, buf.size()));
}

/// Where the earliest separator match ends, as readuntil() defines it.
struct Match {
  bool found = false;
  std::size_t start = 0, end = 0;
};
Match earliest(std::string_view rest, const std::vector<std::string>& seps) {
  Match m;
  for (const std::string& s : seps) {
    std::size_t i = rest.find(s);
    if (i != std::string_view::npos && (!m.found || i + s.size() < m.end)) m = {true, i, i + s.size()};
  }
  return m;
}

std::vector<std::string> sorted_by_length(std::vector<std::string> v) {
  for (std::size_t i = 1; i < v.size(); ++i)
    for (std::size_t j = i; j > 0 && v[j].size() < v[j - 1].size(); --j) std::swap(v[j], v[j - 1]);
  return v;
}

asyncio::Coroutine<> run_reads(asyncio::StreamReader reader, Case& c) {
  const auto limit = static_cast<std::size_t>(c.limit);
  std::size_t pos = 0;
  for (const Read& r : c.reads) {
    const std::string_view rest = std::string_view(c.content).substr(pos);
    std::string got;
    std::exception_ptr error;
    try {
      switch (r.op) {
        case Op::readline:
          got = co_await reader.readline();
          break;
        case Op::readuntil:
          got = co_await reader.readuntil(r.seps.front());
          break;
        case Op::readuntil_multi: {
          std::vector<std::string_view> views(r.seps.begin(), r.seps.end());
          got = co_await reader.readuntil(views);
          break;
        }
        case Op::readexactly:
          got = co_await reader.readexactly(r.n);
          break;
        case Op::read:
          got = co_await reader.read(r.n);
          break;
        case Op::read_all:
        case Op::count:
          got = co_await reader.read(-1);
          break;
      }
    } catch (...) {
      error = std::current_exception();
    }

    switch (r.op) {
      case Op::readexactly: {
        const auto n = static_cast<std::size_t>(r.n);
        if (rest.size() >= n) {
          CHECK(!error);
          CHECK(got == rest.substr(0, n));
          pos += n;
        } else {
          // EOF comes first: IncompleteReadError(partial = the rest, n).
          try {
            std::rethrow_exception(error);
          } catch (const asyncio::IncompleteReadError& e) {
            CHECK(e.partial == rest);
            CHECK(e.expected == n);
          } catch (...) {
            fail("readexactly: wrong error");
          }
          pos = c.content.size();
        }
        break;
      }
      case Op::read: {
        CHECK(!error);
        CHECK(got.size() <= static_cast<std::size_t>(r.n));
        CHECK(rest.substr(0, got.size()) == got);
        CHECK(!got.empty() || rest.empty());  // only "" at EOF
        pos += got.size();
        break;
      }
      case Op::read_all:
      case Op::count:
        CHECK(!error);
        CHECK(got == rest);
        pos = c.content.size();
        break;
      case Op::readline:
      case Op::readuntil:
      case Op::readuntil_multi: {
        const std::vector<std::string> seps =
            r.op == Op::readline ? std::vector<std::string>{"\n"} : sorted_by_length(r.seps);
        const Match m = earliest(rest, seps);
        if (!error) {
          if (m.found) {
            CHECK(m.start <= limit, "a chunk over the limit was returned");
            CHECK(got == rest.substr(0, m.end));
            pos += m.end;
          } else {
            // Only readline returns a partial line at EOF, and only one
            // within the limit.
            CHECK(r.op == Op::readline);
            CHECK(rest.size() <= limit);
            CHECK(got == rest);
            pos = c.content.size();
          }
          break;
        }
        try {
          std::rethrow_exception(error);
        } catch (const asyncio::IncompleteReadError& e) {
          CHECK(r.op != Op::readline);
          CHECK(!m.found, "EOF reported although a separator was there");
          CHECK(e.partial == rest);
          CHECK(!e.expected);
          CHECK(rest.size() + 1 <= limit + seps.back().size(), "EOF reported where the limit was exceeded");
          pos = c.content.size();
        } catch (const asyncio::LimitOverrunError& e) {
          CHECK(r.op != Op::readline);
          const std::string what = e.what();
          if (what == "Separator is found, but chunk is longer than limit") {
            CHECK(m.found && m.start > limit && e.consumed == m.start);
          } else {
            CHECK(what == "Separator is not found, and chunk exceed the limit", what);
            CHECK(e.consumed > limit);
            // Early at most: no separator ends within what was examined.
            CHECK(!m.found || m.end > e.consumed, "overrun reported past a separator");
          }
          // The data stays in the buffer: pos is unchanged.
        } catch (const std::invalid_argument& e) {
          // readline over the limit: the line is dropped (through its
          // newline, if it had arrived), or the buffer cleared.
          CHECK(r.op == Op::readline);
          const std::size_t now = c.fed - reader.buffer().size();
          CHECK(now >= pos);
          CHECK(!m.found || now <= pos + m.end, "readline dropped past the newline");
          CHECK(!m.found || m.start > limit, "readline raised for a line within the limit");
          pos = now;
        } catch (...) {
          fail("readuntil: unexpected error");
        }
        break;
      }
    }
    check_buffer(reader, c, pos);
  }
  co_return;
}

asyncio::Coroutine<> run_case(Case& c) {
  asyncio::StreamReader reader(c.limit);
  asyncio::Task<> feed = asyncio::create_task(feeder(reader, c));
  co_await run_reads(reader, c);
  co_await feed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static asyncio::EventLoop* loop = new asyncio::EventLoop();  // one for the whole run
  FuzzedDataProvider in(data, size);
  Case c;
  c.limit = in.ConsumeIntegralInRange<int>(1, 48);
  const std::size_t nreads = in.ConsumeIntegralInRange<std::size_t>(1, 24);
  for (std::size_t i = 0; i < nreads; ++i) {
    Read r;
    r.op = static_cast<Op>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(Op::count) - 1));
    r.n = in.ConsumeIntegralInRange<int>(1, 96);
    const std::size_t nseps = r.op == Op::readuntil_multi ? in.ConsumeIntegralInRange<std::size_t>(1, 3) : 1;
    for (std::size_t j = 0; j < nseps; ++j)
      r.seps.emplace_back(separators[in.ConsumeIntegralInRange<std::size_t>(0, std::size(separators) - 1)]);
    c.reads.push_back(std::move(r));
  }
  const std::size_t nchunks = in.ConsumeIntegralInRange<std::size_t>(0, 32);
  for (std::size_t i = 0; i < nchunks; ++i) c.chunks.push_back(in.ConsumeIntegralInRange<std::size_t>(0, 64));
  c.content = alphabet(in.ConsumeRemainingBytesAsString());
  // Chunks beyond the content are trimmed.
  std::size_t total = 0;
  for (std::size_t& n : c.chunks) {
    n = std::min(n, c.content.size() - total);
    total += n;
  }
  loop->run_until_complete(run_case(c));
  return 0;
}
