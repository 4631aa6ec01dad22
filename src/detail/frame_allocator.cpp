// asyncio-cpp: SPDX-License-Identifier: MIT
#include <asyncio/detail/frame_allocator.hpp>

#include <cstdlib>
#include <mutex>
#include <vector>

// The pool-or-heap decision, made here once for every translation unit
// that allocates frames (see FramePool).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ASYNCIO_PLAIN_FRAMES 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ASYNCIO_PLAIN_FRAMES 1
#endif
#endif

namespace asyncio::detail {

#ifdef ASYNCIO_PLAIN_FRAMES
constinit thread_local FramePool frame_pool{0, {}};
#else
constinit thread_local FramePool frame_pool{FramePool::classes, {}};
#endif

namespace {
// Chunks stay reachable from here for the life of the process: blocks may
// move between threads' free lists, so no thread may give a chunk back.
std::mutex chunks_mutex;
std::vector<void*>* chunks = nullptr;

constexpr std::size_t chunk_bytes = 64 * 1024;
}  // namespace

void free_unpooled_frame(void* p, std::size_t n) noexcept { ::operator delete(p, n); }

void* refill_frame_pool(std::size_t size_class) {
  const std::size_t block = size_class * FramePool::granule;
  void* chunk = ::operator new(chunk_bytes);
  {
    std::lock_guard lock(chunks_mutex);
    if (!chunks) chunks = new std::vector<void*>;
    chunks->push_back(chunk);
  }
  // Keep the first block for the caller; thread the rest onto the free list.
  char* base = static_cast<char*>(chunk);
  const std::size_t count = chunk_bytes / block;
  void*& head = frame_pool.free[size_class];
  for (std::size_t i = count - 1; i >= 1; --i) {
    void* p = base + i * block;
    *static_cast<void**>(p) = head;
    head = p;
  }
  return base;
}

}  // namespace asyncio::detail
