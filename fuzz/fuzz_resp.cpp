// libFuzzer target: mini-redis's RESP reader (examples/mini_redis/resp.hpp,
// read_command() over a StreamReader) against a model (issue 15, item 6).
//
// The first byte of an input gives the size of the chunks the rest is fed
// in (a feeder task yields between chunks, so reads wait mid-command), then
// EOF. The model parses the whole input at once: the commands in order,
// then how it ends: a clean EOF, EOF inside a command, or the protocol
// error (its message). read_command() must give exactly that.
#include "resp.hpp"

#include <asyncio/asyncio.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mini_redis::Command;

struct Outcome {
  std::vector<Command> commands;
  std::string end;  // "eof", "incomplete", or "protocol: <message>"
  bool operator==(const Outcome&) const = default;
};

// from_chars's grammar: an optional '-', then digits, fitting an int64.
std::optional<std::int64_t> model_int(std::string_view s) {
  std::size_t i = s.size() > 0 && s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (std::size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) return std::nullopt;  // out of range
  return v;
}

Command model_words(std::string_view line) {
  Command words;
  std::string word;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!word.empty()) words.push_back(std::exchange(word, {}));
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

Outcome model(std::string_view in) {
  Outcome out;
  std::size_t pos = 0;
  auto line = [&](std::string_view& l) {
    const std::size_t e = in.find("\r\n", pos);
    if (e == std::string_view::npos) return false;
    l = in.substr(pos, e + 2 - pos);
    pos = e + 2;
    return true;
  };
  for (;;) {
    std::string_view l;
    if (!line(l)) {
      out.end = pos == in.size() ? "eof" : "incomplete";
      return out;
    }
    if (l[0] != '*') {
      Command words = model_words(l);
      if (!words.empty()) out.commands.push_back(words);
      continue;
    }
    std::optional<std::int64_t> n = model_int(l.substr(1, l.size() - 3));
    if (!n || *n > mini_redis::max_multibulk) {
      out.end = "protocol: invalid multibulk length";
      return out;
    }
    Command args;
    for (std::int64_t i = 0; i < *n; ++i) {
      std::string_view h;
      if (!line(h)) {
        out.end = "incomplete";
        return out;
      }
      if (h[0] != '$') {
        const auto c = static_cast<unsigned char>(h[0]);
        char shown[8];
        if (c >= 0x20 && c < 0x7f)
          std::snprintf(shown, sizeof shown, "%c", c);
        else
          std::snprintf(shown, sizeof shown, "\\x%02x", c);
        out.end = std::string("protocol: expected '$', got '") + shown + "'";
        return out;
      }
      std::optional<std::int64_t> len = model_int(h.substr(1, h.size() - 3));
      if (!len || *len < 0 || *len > mini_redis::max_bulk_len) {
        out.end = "protocol: invalid bulk length";
        return out;
      }
      const auto size = static_cast<std::size_t>(*len);
      if (in.size() - pos < size + 2) {
        out.end = "incomplete";
        return out;
      }
      if (in.substr(pos + size, 2) != "\r\n") {
        out.end = "protocol: expected CRLF after bulk string";
        return out;
      }
      args.emplace_back(in.substr(pos, size));
      pos += size + 2;
    }
    if (*n > 0) out.commands.push_back(args);
  }
}

asyncio::Coroutine<> feed(asyncio::StreamReader reader, std::string_view data, std::size_t chunk) {
  for (std::size_t i = 0; i < data.size(); i += chunk) {
    reader.feed_data(data.substr(i, chunk));
    co_await asyncio::sleep(0);
  }
  reader.feed_eof();
}

asyncio::Coroutine<Outcome> parse(std::string_view data, std::size_t chunk) {
  asyncio::StreamReader reader;
  asyncio::Task<> feeder = asyncio::create_task(feed(reader, data, chunk));
  Outcome out;
  try {
    for (;;) {
      std::optional<Command> cmd = co_await mini_redis::read_command(reader);
      if (!cmd) {
        out.end = "eof";
        break;
      }
      out.commands.push_back(std::move(*cmd));
    }
  } catch (const mini_redis::ProtocolError& e) {
    out.end = std::string("protocol: ") + e.what();
  } catch (const asyncio::IncompleteReadError&) {
    out.end = "incomplete";
  }
  co_await feeder;
  co_return out;
}

std::string show(const Outcome& o) {
  std::string s;
  for (const Command& c : o.commands) {
    s += "[";
    for (const std::string& a : c) s += "'" + a + "' ";
    s += "] ";
  }
  return s + "end=" + o.end;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + bytes[0] % 16;
  const std::string_view data(reinterpret_cast<const char*>(bytes + 1), size - 1);
  if (data.size() > 60000) return 0;  // below the reader's limit: the model has none
  static asyncio::EventLoop loop;
  const Outcome got = loop.run_until_complete(parse(data, chunk));
  const Outcome want = model(data);
  if (!(got == want)) {
    std::fprintf(stderr, "fuzz_resp: read_command: %s\nmodel: %s\n", show(got).c_str(), show(want).c_str());
    std::abort();
  }
  return 0;
}
