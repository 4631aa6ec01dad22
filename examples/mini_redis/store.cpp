// mini-redis: the commands on one key, with Redis 7's replies and errors.
#include "store.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace mini_redis {

namespace {

bool parse_int(const std::string& s, std::int64_t& v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

}  // namespace

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

Store::Entry* Store::find(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  if (it->second.expires != Clock::time_point::max() && it->second.expires <= Clock::now()) {
    map_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void Store::execute(const Command& args, std::string& out) {
  const std::string name = lower(args[0]);
  const std::string& key = args[1];
  if (name == "get") {
    if (Entry* e = find(key))
      bulk(out, e->value);
    else
      nil(out);
  } else if (name == "set") {
    set(args, out);
  } else if (name == "del") {
    integer(out, find(key) ? static_cast<std::int64_t>(map_.erase(key)) : 0);
  } else if (name == "exists") {
    integer(out, find(key) ? 1 : 0);
  } else if (name == "incr" || name == "decr") {
    incr_by(key, name == "incr" ? 1 : -1, out);
  } else if (name == "expire") {
    std::int64_t seconds = 0;
    if (!parse_int(args[2], seconds)) return error(out, "ERR value is not an integer or out of range");
    Entry* e = find(key);
    if (!e) return integer(out, 0);
    if (seconds <= 0) {
      map_.erase(key);
    } else {
      e->expires = Clock::now() + std::chrono::seconds(seconds);
    }
    integer(out, 1);
  } else if (name == "ttl") {
    Entry* e = find(key);
    if (!e) return integer(out, -2);
    if (e->expires == Clock::time_point::max()) return integer(out, -1);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(e->expires - Clock::now()).count();
    integer(out, (ms + 500) / 1000);  // Redis rounds
  } else {
    error(out, "ERR unknown command '" + args[0] + "'");
  }
}

// SET key value [NX | XX] [EX seconds | PX milliseconds]
void Store::set(const Command& args, std::string& out) {
  bool nx = false, xx = false;
  std::int64_t ttl_ms = -1;
  for (std::size_t i = 3; i < args.size(); ++i) {
    const std::string& opt = args[i];
    if (iequals(opt, "nx") && !xx) {
      nx = true;
    } else if (iequals(opt, "xx") && !nx) {
      xx = true;
    } else if ((iequals(opt, "ex") || iequals(opt, "px")) && ttl_ms < 0 && i + 1 < args.size()) {
      std::int64_t v = 0;
      if (!parse_int(args[++i], v)) return error(out, "ERR value is not an integer or out of range");
      if (v <= 0 || v > std::numeric_limits<std::int64_t>::max() / 1000)
        return error(out, "ERR invalid expire time in 'set' command");
      ttl_ms = iequals(opt, "ex") ? v * 1000 : v;
    } else {
      return error(out, "ERR syntax error");
    }
  }
  Entry* e = find(args[1]);
  if ((nx && e) || (xx && !e)) return nil(out);
  Entry& slot = e ? *e : map_[args[1]];
  slot.value = args[2];
  slot.expires = ttl_ms < 0 ? Clock::time_point::max() : Clock::now() + std::chrono::milliseconds(ttl_ms);
  simple(out, "OK");
}

void Store::incr_by(const std::string& key, std::int64_t by, std::string& out) {
  Entry* e = find(key);
  std::int64_t v = 0;
  if (e && !parse_int(e->value, v)) return error(out, "ERR value is not an integer or out of range");
  if ((by > 0 && v > std::numeric_limits<std::int64_t>::max() - by) ||
      (by < 0 && v < std::numeric_limits<std::int64_t>::min() - by))
    return error(out, "ERR increment or decrement would overflow");
  v += by;
  if (e)
    e->value = std::to_string(v);
  else
    map_[key].value = std::to_string(v);
  integer(out, v);
}

}  // namespace mini_redis
