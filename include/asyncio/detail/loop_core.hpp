// asyncio-cpp: SPDX-License-Identifier: MIT
// The part of the event loop that futures and tasks touch on their hot path:
// the intrusive ready queue, the current task, and the per-thread state.
#ifndef ASYNCIO_DETAIL_LOOP_CORE_HPP
#define ASYNCIO_DETAIL_LOOP_CORE_HPP

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class TaskCore;

/// An entry of the ready queue, embedded in the object it runs (a task's
/// step, a future's batch of done-callbacks, a Handle). An object is queued
/// at most once at a time, so the queue never allocates.
/// Polymorphic so that a future's vtable pointer doubles as the entry's
/// dispatch: a node costs one pointer beyond it.
class ReadyNode {
 public:
  /// Runs the entry; with `discard` set, only releases what the entry holds
  /// (the loop is closing and will not run it). Never throws.
  virtual void run_ready(bool discard) noexcept = 0;
  ReadyNode* next = nullptr;

 protected:
  ReadyNode() = default;
  ReadyNode(const ReadyNode&) = delete;
  ReadyNode& operator=(const ReadyNode&) = delete;
  ~ReadyNode() = default;
};

/// Reference-counted core of an EventLoop. Every future holds a reference,
/// so a future that outlives its loop (a Task handle kept after run()
/// returned) still points at valid memory; `owner` is null once the
/// EventLoop object is gone, and work queued on such a core is discarded.
class LoopCore {
 public:
  void push(ReadyNode* n) noexcept {
    if (!accepting) {
      n->run_ready(true);
      return;
    }
    n->next = nullptr;
    if (tail_)
      tail_->next = n;
    else
      head_ = n;
    tail_ = n;
  }
  /// Detaches the queue: what is pushed from now on waits for the next pass.
  ReadyNode* take_all() noexcept {
    ReadyNode* h = head_;
    head_ = tail_ = nullptr;
    return h;
  }
  bool has_ready() const noexcept { return head_ != nullptr; }
  /// Puts a detached chain back in front of the queue (what a pass could
  /// not run because a fatal exception interrupted it).
  void requeue_front(ReadyNode* chain) noexcept {
    if (!chain) return;
    ReadyNode* last = chain;
    while (last->next) last = last->next;
    last->next = head_;
    head_ = chain;
    if (!tail_) tail_ = last;
  }

  void incref() noexcept { ++refs_; }
  void decref() noexcept {
    if (--refs_ == 0) delete this;
  }

  EventLoop* owner = nullptr;  ///< null once the EventLoop object is gone
  bool accepting = true;       ///< false once the loop is closed
  TaskCore* current_task = nullptr;
  /// A KeyboardInterrupt/SystemExit raised by a task step, to be re-raised
  /// out of run_forever() (spec S10).
  std::exception_ptr fatal;
  /// Pending tasks (all_tasks()): an intrusive list, each holding the
  /// loop's strong reference to the task.
  TaskCore* tasks = nullptr;
  std::size_t task_count = 0;

 private:
  ReadyNode* head_ = nullptr;
  ReadyNode* tail_ = nullptr;
  std::size_t refs_ = 1;
};

/// Per-thread state. `next` is the trampoline of a task step: an
/// `await_suspend` that wants another frame resumed stores it here and
/// returns, so awaiting coroutines never nests native stack frames whatever
/// the compiler does with tail calls (DESIGN.md decision 6).
struct ThreadState {
  LoopCore* running = nullptr;
  std::coroutine_handle<> next = nullptr;
};

extern constinit thread_local ThreadState tls;

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_LOOP_CORE_HPP
