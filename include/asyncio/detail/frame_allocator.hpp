// asyncio-cpp: SPDX-License-Identifier: MIT
// Recycling allocator for coroutine frames and small loop objects.
#ifndef ASYNCIO_DETAIL_FRAME_ALLOCATOR_HPP
#define ASYNCIO_DETAIL_FRAME_ALLOCATOR_HPP

#include <cstddef>
#include <new>

namespace asyncio::detail {

/// Per-thread free lists, one per 16-byte size class. Blocks are carved from
/// chunks that are never returned to the system, so a block freed on another
/// thread simply migrates to that thread's list.
///
/// Whether blocks are pooled at all is decided once, where the library is
/// built (`pooled` is 0 when it was built with a sanitizer, so that every
/// block goes through operator new and use-after-free stays detectable).
/// The inline functions below read that decision instead of testing macros
/// of their own: a program built with ASan against a library built without
/// (or the reverse) agrees with the library about every block.
struct FramePool {
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t classes = 64;  // blocks up to 1008 bytes
  std::size_t pooled;                         // classes below this are pooled (<= classes)
  void* free[classes];
};

extern constinit thread_local FramePool frame_pool;

void* refill_frame_pool(std::size_t size_class);
/// operator delete for a block that was not pooled (out of line: inline,
/// GCC cannot tell which allocation a block came from and warns).
void free_unpooled_frame(void* p, std::size_t n) noexcept;

/// Whether blocks of size class `c` come from the pool: one compare with
/// `pooled` (never above `classes`, which the compiler is told, so that it
/// neither tests it again nor warns about the array's bounds).
inline bool pooled_class(std::size_t c) noexcept {
  if (c >= frame_pool.pooled) return false;
  if (c >= FramePool::classes) __builtin_unreachable();
  return true;
}

inline void* allocate_frame(std::size_t n) {
  const std::size_t c = (n + FramePool::granule - 1) / FramePool::granule;
  if (pooled_class(c)) {
    void*& head = frame_pool.free[c];
    if (void* p = head) {
      head = *static_cast<void**>(p);
      return p;
    }
    return refill_frame_pool(c);
  }
  return ::operator new(n);
}

inline void deallocate_frame(void* p, std::size_t n) noexcept {
  const std::size_t c = (n + FramePool::granule - 1) / FramePool::granule;
  if (pooled_class(c)) {
    void*& head = frame_pool.free[c];
    *static_cast<void**>(p) = head;
    head = p;
    return;
  }
  free_unpooled_frame(p, n);
}

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_FRAME_ALLOCATOR_HPP
