// asyncio-cpp: SPDX-License-Identifier: MIT
// The part of context variables that tasks and callbacks touch on their hot
// path: the immutable map, the Context object, and the per-thread pointer to
// the context that is current. ≙ Python/context.c (design-notes.md,
// "Context variables").
#ifndef ASYNCIO_DETAIL_CONTEXT_CORE_HPP
#define ASYNCIO_DETAIL_CONTEXT_CORE_HPP

#include <asyncio/detail/loop_core.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace asyncio::detail {

/// What a ContextVar is, whatever its T: the key of the maps.
struct VarCore {
  std::string name;
  std::shared_ptr<const void> default_value;  ///< a T; null: no default
  std::string default_repr;                   ///< `default=42` in repr(), if printable
};

struct ContextEntry {
  std::shared_ptr<const VarCore> var;
  std::shared_ptr<const void> value;  ///< a T of the var's ContextVar<T>
};

/// An immutable map var → value, shared by every context that copied it:
/// copying a context is one reference more. A set() makes a new map (the
/// entries are few: a flat array sorted by key beats a HAMT at this size).
class ContextMap {
 public:
  std::vector<ContextEntry> entries;  ///< sorted by var address; never changed once shared

  const ContextEntry* find(const VarCore* var) const noexcept;
  void incref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void decref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  std::atomic<std::size_t> refs_{1};
};

/// A Context object (≙ PyContext): a map that set() replaces, and the
/// "entered" flag of Context::run().
class ContextCore {
 public:
  explicit ContextCore(ContextMap* m) noexcept : map(m) {}
  ContextCore(const ContextCore&) = delete;
  ContextCore& operator=(const ContextCore&) = delete;
  ~ContextCore() {
    if (map) map->decref();
  }
  ContextMap* map;  ///< an owned reference; null: empty
  std::atomic<bool> entered{false};

  void incref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void decref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  std::atomic<std::size_t> refs_{1};
};

/// The context a task, a callback or a thread runs in, in one word: 0 (an
/// empty context nobody has looked at), a ContextMap* tagged with bit 0 (a
/// copy that is not a Context object yet), or a ContextCore*. Capturing the
/// current context costs a load and a test while no variable is set, and
/// one reference count when one is; a ContextCore is made only when someone
/// sets a variable or asks for the Context object.
using ContextSlot = std::uintptr_t;

/// The slot of what runs now on this thread: `*tls.context` (a task, a
/// callback, Context::run), or else `tls.thread_context`, the thread's own.
/// In ThreadState, so that a task step reaches it from the same base as the
/// rest of the thread's state.
inline ContextSlot& current_slot() noexcept {
  ContextSlot* s = tls.context;
  return s ? *s : tls.thread_context;
}

inline bool is_core(ContextSlot s) noexcept { return s && !(s & 1); }
inline ContextCore* core_of(ContextSlot s) noexcept { return reinterpret_cast<ContextCore*>(s); }
inline ContextMap* map_of(ContextSlot s) noexcept {
  if (s & 1) return reinterpret_cast<ContextMap*>(s & ~ContextSlot{1});
  return s ? core_of(s)->map : nullptr;
}

/// A copy of what `s` (not 0) holds (≙ copy_context()): the same map, one
/// reference more; 0 when it is empty. Out of line, as release_slot's: the
/// hot paths inline only the test for 0.
ContextSlot copy_slot(ContextSlot s) noexcept;
void release_nonempty_slot(ContextSlot s) noexcept;
/// The current context, copied: what a new task or callback runs in. The
/// tests inline are the common cases: no context at all, and a Context
/// object with nothing set (what asyncio::run's main task runs in).
inline ContextSlot capture_context() noexcept {
  ContextSlot s = current_slot();
  if (!s || (!(s & 1) && !reinterpret_cast<const ContextCore*>(s)->map)) return 0;
  return copy_slot(s);
}
inline void release_slot(ContextSlot s) noexcept {
  if (s) release_nonempty_slot(s);
}
/// What `slot` runs in becomes `core` itself (context= given).
inline void share_core(ContextSlot& slot, ContextCore* core) noexcept {
  core->incref();
  release_slot(std::exchange(slot, reinterpret_cast<ContextSlot>(core)));
}
/// The Context object of `slot`, made now if it has none yet.
ContextCore* materialize(ContextSlot& slot);

/// Makes `slot` current for its lifetime (a task step, a callback).
class ContextSwitch {
 public:
  explicit ContextSwitch(ContextSlot& slot) noexcept : outer_(tls.context) { tls.context = &slot; }
  ContextSwitch(const ContextSwitch&) = delete;
  ContextSwitch& operator=(const ContextSwitch&) = delete;
  ~ContextSwitch() { tls.context = outer_; }

 private:
  ContextSlot* outer_;
};

/// A slot owned by a callable that runs elsewhere (to_thread's worker):
/// a copy of the creator's context. Copies share it.
class OwnedContext {
 public:
  OwnedContext() noexcept : slot_(capture_context()) {}
  OwnedContext(const OwnedContext& o) noexcept : slot_(o.slot_) { retain(); }
  OwnedContext(OwnedContext&& o) noexcept : slot_(std::exchange(o.slot_, 0)) {}
  OwnedContext& operator=(const OwnedContext&) = delete;
  ~OwnedContext() { release_slot(slot_); }
  ContextSlot& slot() noexcept { return slot_; }

 private:
  void retain() noexcept {
    if (slot_ & 1)
      map_of(slot_)->incref();
    else if (slot_)
      core_of(slot_)->incref();
  }
  ContextSlot slot_;
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_DETAIL_CONTEXT_CORE_HPP
