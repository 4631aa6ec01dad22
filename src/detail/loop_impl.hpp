// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the EventLoop's state behind its pimpl, shared by the sources
// that implement its parts (events.cpp, threads.cpp, unix_events.cpp).
#ifndef ASYNCIO_SRC_DETAIL_LOOP_IMPL_HPP
#define ASYNCIO_SRC_DETAIL_LOOP_IMPL_HPP

#include <asyncio/events.hpp>
#include <asyncio/executors.hpp>
#include <asyncio/tasks.hpp>

#include "fd_watcher.hpp"
#include "report.hpp"

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <source_location>
#include <string>
#include <thread>
#include <memory>
#include <vector>

namespace asyncio {

namespace detail {

class ThreadsafeQueue;
class SignalWatcher;

/// The loop's signal watchers by signal number (unix_events.cpp).
struct SignalHandlers {
  std::map<int, SignalWatcher*> watchers;
};

/// A callback scheduled by call_soon / call_later / call_at. Counted: the
/// Handle objects, plus the queue or the loop's timer heap that holds it.
class HandleState final : public ReadyNode, public TimerNode {
 public:
  explicit HandleState(LoopCore* loop, std::function<void()> cb) noexcept
      : TimerNode(&HandleState::on_due), cb(std::move(cb)), loop(loop) {}
  ~HandleState() { release_slot(context); }
  /// Runs in `c` itself (call_soon(..., context)) instead of a copy.
  void set_context(ContextCore* c) noexcept { share_core(context, c); }

  /// Its time has come: onto the ready queue (the heap's reference passes
  /// to the queue).
  static void on_due(TimerNode& node, LoopCore& loop) noexcept { loop.push(static_cast<HandleState*>(&node)); }

  void run_ready(bool discard) noexcept override {
    if (!discard && !cancelled) {
      ContextSwitch in_context(context);  // ≙ self._context.run(self._callback)
      try {
        cb();
      } catch (...) {
        report_callback_error(loop, std::current_exception(), repr(), site);
      }
    }
    decref();
  }
  /// `<Handle>`; `<Handle created at file:line>` in debug mode.
  std::string repr() const;
  void incref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void decref() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  std::function<void()> cb;
  LoopCore* loop;
  /// A copy of the scheduler's context (≙ Handle._context).
  ContextSlot context = capture_context();
  // Atomic: the Handle of call_soon_threadsafe() lives in another thread.
  std::atomic<std::uint32_t> refs{1};
  bool cancelled = false;
  /// Debug mode: where call_soon/call_later/call_at was called.
  std::optional<std::source_location> site;
};

}  // namespace detail

using detail::HandleState;

struct EventLoop::Impl {
  uv_loop_t uv{};
  uv_timer_t wake{};
  uv_async_t async{};
  bool virtual_time = false;
  double vtime = 0;
  bool running = false;
  bool stopping = false;
  bool closed = false;
  /// closed || debug: the one test check_call() makes on the hot path.
  bool guarded = false;
  /// The thread running run_forever() (debug mode's thread check).
  std::atomic<std::thread::id> thread_id{};
  double slow_callback_duration = 0.1;
  unsigned busy_passes = 0;
  ExceptionHandler handler;
  TaskFactory task_factory;

  std::shared_ptr<detail::ThreadsafeQueue> posted;
  std::unique_ptr<ThreadPoolExecutor> executor;  // the default one, made on first use
  std::unique_ptr<detail::SignalHandlers> signals;
  std::unique_ptr<detail::FdWatchers> fd_watchers;  // add_reader / add_writer (selector_events.cpp)
};

}  // namespace asyncio

#endif  // ASYNCIO_SRC_DETAIL_LOOP_IMPL_HPP
