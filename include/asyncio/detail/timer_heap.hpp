// asyncio-cpp: SPDX-License-Identifier: MIT
// The loop's one timer facility: an indexed min-heap of deadlines, as
// libuv's timer heap (design-notes.md, "One timer heap").
#ifndef ASYNCIO_DETAIL_TIMER_HEAP_HPP
#define ASYNCIO_DETAIL_TIMER_HEAP_HPP

#include <cstddef>
#include <cstdint>
#include <vector>

namespace asyncio::detail {

class LoopCore;

/// A deadline within this of now is due (CPython's _clock_resolution for
/// time.monotonic()).
inline constexpr double clock_resolution = 1e-9;

/// An entry of the timer heap, embedded in what it times: a call_later
/// handle, a Timeout. `due` says what happens when its time comes.
class TimerNode {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  using DueFn = void (*)(TimerNode& node, LoopCore& loop) noexcept;

  explicit TimerNode(DueFn due) noexcept : due(due) {}
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;

  bool in_heap() const noexcept { return slot != npos; }

  double when = 0;
  DueFn due;

 private:
  friend class TimerHeap;
  std::uint64_t seq = 0;    ///< FIFO among equal deadlines
  std::size_t slot = npos;  ///< index in the heap
};

/// Min-heap on (when, seq) with each node's index kept in the node:
/// insertion and removal anywhere in O(log n), no allocation once grown.
class TimerHeap {
 public:
  void push(TimerNode& n, double when) {
    n.when = when;
    n.seq = seq_++;
    heap_.push_back(&n);
    n.slot = heap_.size() - 1;
    if (n.slot) sift_up(n.slot);
  }
  /// Takes `n` out; no-op when it is not in.
  void remove(TimerNode& n) noexcept {
    if (!n.in_heap()) return;
    const std::size_t i = n.slot;
    TimerNode* last = heap_.back();
    heap_.pop_back();
    n.slot = TimerNode::npos;
    if (last != &n) {
      place(last, i);
      sift_down(i);
      sift_up(last->slot);
    }
  }
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  /// The earliest; the heap must not be empty.
  TimerNode& top() const noexcept { return *heap_.front(); }
  /// Takes every node out (each is left with in_heap() false) and gives
  /// each to `f`.
  template <class F>
  void clear(F&& f) {
    std::vector<TimerNode*> nodes;
    nodes.swap(heap_);
    for (TimerNode* n : nodes) n->slot = TimerNode::npos;
    for (TimerNode* n : nodes) f(*n);
  }

 private:
  static bool before(const TimerNode* a, const TimerNode* b) noexcept {
    return a->when != b->when ? a->when < b->when : a->seq < b->seq;
  }
  void place(TimerNode* n, std::size_t i) noexcept {
    heap_[i] = n;
    n->slot = i;
  }
  void sift_up(std::size_t i) noexcept {
    TimerNode* n = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!before(n, heap_[parent])) break;
      place(heap_[parent], i);
      i = parent;
    }
    place(n, i);
  }
  void sift_down(std::size_t i) noexcept {
    const std::size_t size = heap_.size();
    TimerNode* n = heap_[i];
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], n)) break;
      place(heap_[child], i);
      i = child;
    }
    place(n, i);
  }

  std::vector<TimerNode*> heap_;
  std::uint64_t seq_ = 0;
};

/// A link in the loop's list of expiries waiting for their turn in the
/// pass (a Timeout whose deadline came): circular, with the list's own
/// link as sentinel, so that an entry unlinks itself in O(1).
struct ExpiryLink {
  ExpiryLink* prev = nullptr;
  ExpiryLink* next = nullptr;
  /// Runs the expiry (≙ the Timeout's call_at handle running).
  void (*fire)(ExpiryLink& link) = nullptr;

  bool linked() const noexcept { return next != nullptr; }
  void unlink() noexcept {
    if (!next) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_TIMER_HEAP_HPP
