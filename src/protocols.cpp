// asyncio-cpp: SPDX-License-Identifier: MIT
// ≙ Lib/asyncio/protocols.py: what a protocol does itself.
#include <asyncio/exceptions.hpp>
#include <asyncio/protocols.hpp>

#include <algorithm>
#include <cstring>

namespace asyncio {

void BufferedProtocol::data_received(std::string_view data) {
  // ≙ protocols._feed_data_to_buffered_proto
  while (!data.empty()) {
    std::span<char> buf = get_buffer(static_cast<std::ptrdiff_t>(data.size()));
    if (buf.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
    const std::size_t n = std::min(buf.size(), data.size());
    std::memcpy(buf.data(), data.data(), n);
    buffer_updated(n);
    data.remove_prefix(n);
  }
}

}  // namespace asyncio
