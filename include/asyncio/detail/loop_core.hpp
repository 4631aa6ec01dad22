// asyncio-cpp: SPDX-License-Identifier: MIT
// The part of the event loop that futures and tasks touch on their hot path:
// the intrusive ready queue, the current task, and the per-thread state.
#ifndef ASYNCIO_DETAIL_LOOP_CORE_HPP
#define ASYNCIO_DETAIL_LOOP_CORE_HPP

#include <asyncio/detail/timer_heap.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <vector>
#include <atomic>
#include <exception>

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class TaskCore;

class FutureCore;
struct DebugRecords;

/// Something the loop runs: an entry of the ready queue (a task's step, a
/// future's batch of done-callbacks, a Handle) and/or a done-callback
/// registered on a future (a waiting task, a gather, a user callback).
/// Embedded in the object it runs: an object is queued at most once at a
/// time, so neither the queue nor a callback registration allocates, and a
/// future's vtable pointer doubles as the dispatch.
class ReadyNode {
 public:
  /// As a queue entry: runs; with `discard` set, only releases what the
  /// entry holds (the loop is closing and will not run it). Never throws.
  virtual void run_ready(bool discard) noexcept { (void)discard; }
  /// As a done-callback: `f` is done. The registration ends with this
  /// call (the object may free itself, and may be gone when it returns).
  /// May throw (reported by the caller).
  virtual void on_done(FutureCore& f) { (void)f; }
  /// As a done-callback removed, or dropped without running.
  virtual void release_callback() noexcept {}
  /// Non-zero for a user callback: its CallbackId.
  virtual std::uintptr_t callback_id() const noexcept { return 0; }

  ReadyNode* next;  // set by LoopCore::push

 protected:
  ReadyNode() = default;
  ReadyNode(const ReadyNode&) = delete;
  ReadyNode& operator=(const ReadyNode&) = delete;
  ~ReadyNode() = default;
};

/// The expiries whose deadlines came in this pass (Timeouts), run as one
/// entry of the ready queue at the place where the loop found them due, as
/// their call_at handles would run in CPython (design-notes.md, "One timer
/// heap").
class Expiries final : public ReadyNode {
 public:
  Expiries() noexcept { list_.prev = list_.next = &list_; }
  /// `link` is due: appended, and this entry queued (once) on `loop`.
  inline void add(LoopCore& loop, ExpiryLink& link) noexcept;
  void run_ready(bool discard) noexcept override {
    queued_ = false;
    while (list_.next != &list_) {
      ExpiryLink* l = list_.next;
      l->unlink();
      if (!discard) l->fire(*l);
    }
  }

 private:
  ExpiryLink list_;
  bool queued_ = false;
};

/// Reference-counted core of an EventLoop. Every future holds a reference,
/// so a future that outlives its loop (a Task handle kept after run()
/// returned) still points at valid memory; `owner` is null once the
/// EventLoop object is gone, and work queued on such a core is discarded.
class LoopCore {
 public:
  void push(ReadyNode* n) noexcept {
    // Callbacks posted by other threads go first: they were queued earlier
    // (CPython appends them to the same FIFO).
    if (threadsafe_pending.load(std::memory_order_acquire)) [[unlikely]]
      drain_threadsafe();
    enqueue(n);
  }
  /// push() without looking at what other threads posted.
  void enqueue(ReadyNode* n) noexcept {
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
  /// Moves what call_soon_threadsafe() posted into the ready queue.
  void drain_threadsafe() noexcept;
  /// Set by other threads when they post; see drain_threadsafe().
  std::atomic<bool> threadsafe_pending{false};
  /// The queue other threads post to (owned by the EventLoop).
  void* threadsafe_queue = nullptr;
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
  /// The task factory (EventLoop::set_task_factory): eager first steps,
  /// and whether EventLoop::launch_task must see each new task (a user
  /// hook, or debug mode, which records where the task was created).
  bool eager_tasks = false;
  bool task_hook = false;
  /// Debug mode (EventLoop::set_debug; docs/debug.md).
  bool debug = false;
  /// A KeyboardInterrupt/SystemExit raised by a task step, to be re-raised
  /// out of run_forever() (spec S10).
  std::exception_ptr fatal;
  /// Pending tasks (all_tasks()): an intrusive list, each holding the
  /// loop's strong reference to the task.
  TaskCore* tasks = nullptr;
  std::size_t task_count = 0;
  /// Every deadline of the loop: call_later/call_at handles, sleeps,
  /// Timeouts (the one timer heap).
  TimerHeap timers;
  Expiries expiries;
  /// What debug mode recorded (creation sites), made on first use. Every
  /// recorded future holds a reference to this core, so it outlives them.
  DebugRecords* records = nullptr;

  LoopCore() = default;
  LoopCore(const LoopCore&) = delete;
  LoopCore& operator=(const LoopCore&) = delete;
  ~LoopCore();

 private:
  ReadyNode* head_ = nullptr;
  ReadyNode* tail_ = nullptr;
  std::size_t refs_ = 1;
};

void Expiries::add(LoopCore& loop, ExpiryLink& link) noexcept {
  link.prev = list_.prev;
  link.next = &list_;
  list_.prev->next = &link;
  list_.prev = &link;
  if (queued_) return;
  queued_ = true;
  loop.push(this);
}

/// Per-thread state. `next` is the trampoline of a task step: an
/// `await_suspend` that wants another frame resumed stores it here and
/// returns, so awaiting coroutines never nests native stack frames whatever
/// the compiler does with tail calls (DESIGN.md decision 6).
struct ThreadState {
  LoopCore* running = nullptr;
  std::coroutine_handle<> next = nullptr;
  /// Nesting of frame destructions (see destroy_frame()).
  unsigned destroy_depth = 0;
  /// Frames whose destruction was deferred to keep the stack bounded.
  std::vector<std::coroutine_handle<>>* deferred = nullptr;
  /// The context slot of what runs now (a task, a callback, Context::run);
  /// null: `thread_context`, the thread's own (detail/context_core.hpp).
  std::uintptr_t* context = nullptr;
  std::uintptr_t thread_context = 0;
};

/// Native-stack bound on nested inline resumes (CoroutineAwaiter) and on
/// nested frame destructions: deeper chains go through the trampoline, so
/// the stack stays bounded at -O0 under ASan too.
inline constexpr unsigned max_inline_depth = 32;

extern constinit thread_local ThreadState tls;

void defer_destroy(std::coroutine_handle<> h);
void destroy_deferred() noexcept;

/// Destroys a coroutine frame. Destroying a frame destroys what it awaits,
/// so a deep chain of suspended frames would nest destructors as deep as the
/// chain: past max_inline_depth the rest is deferred and destroyed in a loop
/// by the outermost call.
inline void destroy_frame(std::coroutine_handle<> h) noexcept {
  if (tls.destroy_depth >= max_inline_depth) return defer_destroy(h);
  ++tls.destroy_depth;
  h.destroy();
  if (--tls.destroy_depth == 0 && tls.deferred) destroy_deferred();
}

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_LOOP_CORE_HPP
