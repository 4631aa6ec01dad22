// asyncio-cpp: SPDX-License-Identifier: MIT
// Where the queues of queues.hpp keep their items: FIFO, LIFO, heap. ≙ the
// `_init`, `_put` and `_get` that Queue, LifoQueue and PriorityQueue
// override in Lib/asyncio/queues.py.
#ifndef ASYNCIO_DETAIL_QUEUE_STORES_HPP
#define ASYNCIO_DETAIL_QUEUE_STORES_HPP

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio::detail {

/// FIFO items (Queue): a ring buffer that doubles when full and never
/// shrinks, so a queue in steady use allocates nothing (std::deque frees
/// and allocates a block every few hundred items passing through).
template <class T>
class FifoStore {
 public:
  FifoStore() noexcept = default;
  FifoStore(const FifoStore&) = delete;
  FifoStore& operator=(const FifoStore&) = delete;
  ~FifoStore() {
    clear();
    release(buf_);
  }

  void push(T&& v) { emplace(std::move(v)); }
  /// Makes the new last item in place, from `args`: T's constructor (with
  /// parentheses: push() never picks an initializer_list constructor), or
  /// an aggregate's members.
  template <class... A>
  void emplace(A&&... args) {
    if (size_ == cap_) grow();
    void* p = buf_ + ((head_ + size_) & (cap_ - 1));
    if constexpr (std::is_constructible_v<T, A&&...>)
      ::new (p) T(std::forward<A>(args)...);
    else
      ::new (p) T{std::forward<A>(args)...};
    ++size_;
  }
  T pop() {
    T* p = buf_ + head_;
    T v = std::move(*p);
    p->~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
    return v;
  }
  void clear() noexcept {
    for (; size_ > 0; --size_, head_ = (head_ + 1) & (cap_ - 1)) buf_[head_].~T();
  }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  static T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)})); }
  static void release(T* p) noexcept { ::operator delete(p, std::align_val_t{alignof(T)}); }
  void grow() {
    const std::size_t cap = cap_ ? cap_ * 2 : 8;  // a power of two
    T* buf = allocate(cap);
    std::size_t i = 0;
    try {
      for (; i < size_; ++i) ::new (static_cast<void*>(buf + i)) T(std::move_if_noexcept(buf_[(head_ + i) & (cap_ - 1)]));
    } catch (...) {
      std::destroy_n(buf, i);
      release(buf);
      throw;
    }
    clear();
    release(buf_);
    buf_ = buf;
    cap_ = cap;
    head_ = 0;
    size_ = i;
  }

  T* buf_ = nullptr;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

/// LIFO items (LifoQueue).
template <class T>
class LifoStore {
 public:
  void push(T&& v) { items_.push_back(std::move(v)); }
  T pop() {
    T v = std::move(items_.back());
    items_.pop_back();
    return v;
  }
  void clear() noexcept { items_.clear(); }

 private:
  std::vector<T> items_;
};

/// A binary heap, smallest first under `Compare` (PriorityQueue; ≙ heapq).
template <class T, class Compare>
class HeapStore {
 public:
  void push(T&& v) {
    items_.push_back(std::move(v));
    std::push_heap(items_.begin(), items_.end(), after());
  }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), after());
    T v = std::move(items_.back());
    items_.pop_back();
    return v;
  }
  void clear() noexcept { items_.clear(); }

 private:
  // std's heaps put the largest first: order by "comes after" instead.
  auto after() {
    return [this](const T& a, const T& b) { return less_(b, a); };
  }
  std::vector<T> items_;
  [[no_unique_address]] Compare less_;
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_QUEUE_STORES_HPP
