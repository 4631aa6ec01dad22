// mini-redis: one shard's keys (touched only by its own loop's thread).
#ifndef MINI_REDIS_STORE_HPP
#define MINI_REDIS_STORE_HPP

#include "resp.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace mini_redis {

/// The keys of one shard, with their expiry times (checked when a key is
/// touched, as Redis's lazy expiry; no background sweep).
class Store {
 public:
  /// Runs a command on one key (GET, SET, DEL, EXISTS, INCR, DECR, EXPIRE,
  /// TTL, with args[1] the key) and appends its RESP reply to `out`. The
  /// argument count was checked by the caller.
  void execute(const Command& args, std::string& out);
  std::size_t size() const noexcept { return map_.size(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::string value;
    Clock::time_point expires = Clock::time_point::max();
  };
  Entry* find(const std::string& key);
  void set(const Command& args, std::string& out);
  void incr_by(const std::string& key, std::int64_t by, std::string& out);
  std::unordered_map<std::string, Entry> map_;
};

/// The command's name in lower case (Redis's error messages use it).
std::string lower(std::string_view s);

}  // namespace mini_redis

#endif  // MINI_REDIS_STORE_HPP
