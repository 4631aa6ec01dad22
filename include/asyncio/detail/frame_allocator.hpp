// asyncio-cpp: SPDX-License-Identifier: MIT
// Recycling allocator for coroutine frames and small loop objects.
#ifndef ASYNCIO_DETAIL_FRAME_ALLOCATOR_HPP
#define ASYNCIO_DETAIL_FRAME_ALLOCATOR_HPP

#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ASYNCIO_PLAIN_FRAMES 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ASYNCIO_PLAIN_FRAMES 1
#endif
#endif

namespace asyncio::detail {

/// Per-thread free lists, one per 16-byte size class. Blocks are carved from
/// chunks that are never returned to the system, so a block freed on another
/// thread simply migrates to that thread's list. Under a sanitizer every
/// block goes through operator new so that use-after-free stays detectable.
struct FramePool {
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t classes = 64;  // blocks up to 1008 bytes
  void* free[classes];
};

extern constinit thread_local FramePool frame_pool;

void* refill_frame_pool(std::size_t size_class);

inline void* allocate_frame(std::size_t n) {
#ifndef ASYNCIO_PLAIN_FRAMES
  const std::size_t c = (n + FramePool::granule - 1) / FramePool::granule;
  if (c < FramePool::classes) {
    void*& head = frame_pool.free[c];
    if (void* p = head) {
      head = *static_cast<void**>(p);
      return p;
    }
    return refill_frame_pool(c);
  }
#endif
  return ::operator new(n);
}

inline void deallocate_frame(void* p, std::size_t n) noexcept {
#ifndef ASYNCIO_PLAIN_FRAMES
  const std::size_t c = (n + FramePool::granule - 1) / FramePool::granule;
  if (c < FramePool::classes) {
    void*& head = frame_pool.free[c];
    *static_cast<void**>(p) = head;
    head = p;
    return;
  }
#endif
  ::operator delete(p, n);
}

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_FRAME_ALLOCATOR_HPP
