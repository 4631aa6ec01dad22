// mini-redis: RESP2 (the Redis serialization protocol, version 2), read the
// way an asyncio user would: readuntil("\r\n") for each header, then
// readexactly() for each bulk string. Shared by the server and the fuzzer
// (fuzz/fuzz_resp.cpp), which checks read_command() against a model.
#ifndef MINI_REDIS_RESP_HPP
#define MINI_REDIS_RESP_HPP

#include <asyncio/streams.hpp>

#include <charconv>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mini_redis {

using Command = std::vector<std::string>;

/// A request that is not RESP: answered with "-ERR Protocol error: ...",
/// then the connection is closed (as redis-server does).
struct ProtocolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Redis's own bounds (proto-max-bulk-len, the multibulk count limit).
inline constexpr std::int64_t max_bulk_len = 512LL * 1024 * 1024;
inline constexpr std::int64_t max_multibulk = 1024 * 1024;

/// The integer of a header line "<c><digits>\r\n"; nullopt if malformed.
inline std::optional<std::int64_t> header_int(std::string_view line) {
  std::string_view digits = line.substr(1, line.size() - 3);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) return std::nullopt;
  return v;
}

/// `c` for an error message: itself if printable, else "\xNN" (a NUL would
/// cut what() short, a CR or LF would break the reply line).
inline std::string printable(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string(1, c);
  static constexpr char hex[] = "0123456789abcdef";
  return std::string("\\x") + hex[u >> 4] + hex[u & 15];
}

/// An inline command ("PING\r\n", as telnet sends): words split on spaces.
inline Command split_inline(std::string_view line) {
  Command words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' && line[j] != '\n') ++j;
    if (j > i) words.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return words;
}

/// Reads the next command: a RESP array of bulk strings, or an inline
/// command. nullopt at a clean EOF (between commands). ProtocolError for
/// malformed input; IncompleteReadError from EOF inside a command;
/// LimitOverrunError for a header line longer than the reader's limit.
inline asyncio::Coroutine<std::optional<Command>> read_command(asyncio::StreamReader& reader) {
  for (;;) {
    std::string line;
    try {
      line = co_await reader.readuntil("\r\n");
    } catch (const asyncio::IncompleteReadError& e) {
      if (e.partial.empty()) co_return std::nullopt;
      throw;
    }
    if (line[0] != '*') {
      Command words = split_inline(line);
      if (words.empty()) continue;  // an empty line: redis-server ignores it
      co_return words;
    }
    const std::optional<std::int64_t> n = header_int(line);
    if (!n || *n > max_multibulk) throw ProtocolError("invalid multibulk length");
    if (*n <= 0) continue;  // "*0" and "*-1": nothing to run
    Command args;
    args.reserve(static_cast<std::size_t>(*n));
    for (std::int64_t i = 0; i < *n; ++i) {
      std::string header = co_await reader.readuntil("\r\n");
      if (header[0] != '$') throw ProtocolError("expected '$', got '" + printable(header[0]) + "'");
      const std::optional<std::int64_t> len = header_int(header);
      if (!len || *len < 0 || *len > max_bulk_len) throw ProtocolError("invalid bulk length");
      std::string data = co_await reader.readexactly(*len + 2);
      if (data[static_cast<std::size_t>(*len)] != '\r' || data[static_cast<std::size_t>(*len) + 1] != '\n')
        throw ProtocolError("expected CRLF after bulk string");
      data.resize(static_cast<std::size_t>(*len));
      args.push_back(std::move(data));
    }
    co_return args;
  }
}

// Replies, appended to `out`.
inline void simple(std::string& out, std::string_view s) { out.append("+").append(s).append("\r\n"); }
inline void error(std::string& out, std::string_view s) { out.append("-").append(s).append("\r\n"); }
inline void integer(std::string& out, std::int64_t v) { out.append(":").append(std::to_string(v)).append("\r\n"); }
inline void bulk(std::string& out, std::string_view s) {
  out.append("$").append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
}
inline void nil(std::string& out) { out.append("$-1\r\n"); }
inline void array(std::string& out, std::size_t n) { out.append("*").append(std::to_string(n)).append("\r\n"); }

}  // namespace mini_redis

#endif  // MINI_REDIS_RESP_HPP
