// asyncio-cpp: SPDX-License-Identifier: MIT
// Debug mode's reports (docs/debug.md; design-notes.md "Debug mode").
// ≙ the `if self._debug:` branch of BaseEventLoop._run_once and
// base_events._format_handle
#include "debug.hpp"

#include <asyncio/coroutine.hpp>
#include <asyncio/tasks.hpp>

#include "loop_impl.hpp"

#include <cstddef>
#include <cstdio>
#include <vector>

namespace asyncio::detail {

std::string created_at(const std::source_location* where) {
  if (!where) return {};
  return std::string(" created at ") + where->file_name() + ":" + std::to_string(where->line());
}

void log_warning(const std::string& text) noexcept { std::fprintf(stderr, "%s\n", text.c_str()); }

void warn_unclosed(LoopCore* loop, const std::string& what) noexcept {
  if (!loop || !loop->debug) return;
  try {
    log_warning("ResourceWarning: unclosed " + what);
  } catch (...) {
  }
}

std::string describe_future(const FutureCore& f) {
  // A cycle of tasks awaiting each other would recurse for ever.
  static thread_local int depth = 0;
  if (depth > 8) return "<...>";
  ++depth;
  struct Leave {
    ~Leave() { --depth; }
  } leave;
  if (f.is_task()) return static_cast<const TaskCore&>(f).repr();
  const char* state = !f.done() ? "pending" : f.cancelled() ? "cancelled" : "finished";
  return std::string("<Future ") + state + created_at(f.creation_site()) + ">";
}

namespace {

/// How far into every frame of ours its promise lies: Promise<void>'s
/// offset, the same for each Promise<T> with alignof(T) <= 16 (the
/// compilers put the promise right after the resume and destroy
/// pointers). Computed from an address that is never dereferenced.
std::ptrdiff_t promise_offset() noexcept {
  alignas(64) static char probe[64];
  return static_cast<char*>(__builtin_coro_promise(probe, alignof(Promise<void>), false)) - probe;
}

}  // namespace

std::coroutine_handle<> frame_of(const TaskCore& promise) noexcept {
  return std::coroutine_handle<>::from_address(
      const_cast<char*>(reinterpret_cast<const char*>(&promise)) - promise_offset());
}

TaskCore& promise_of(std::coroutine_handle<> frame) noexcept {
  return *reinterpret_cast<TaskCore*>(static_cast<char*>(frame.address()) + promise_offset());
}

std::vector<std::coroutine_handle<>> stack_of(const TaskCore& t) {
  std::vector<std::coroutine_handle<>> frames;
  if (t.done()) return frames;
  const std::coroutine_handle<> top = frame_of(t);
  // A running step's frames call each other on the native stack, unlinked.
  if (t.loop()->current_task == &t) return {top};
  // Each suspended frame's promise links to the frame awaiting it; the top
  // frame's (the task's) to the innermost.
  for (std::coroutine_handle<> h = t.suspended_frame(); h; h = promise_of(h).link_) {
    frames.push_back(h);
    if (h == top) break;
  }
  return frames;
}

namespace {

/// The tasks a ready entry will step: a pending task's own step, or the
/// tasks woken by a done future's callbacks. Each is held (incref) so that
/// its repr can be taken after the entry ran, as CPython formats the
/// handle after running it.
std::vector<TaskCore*> tasks_stepped_by(ReadyNode& node) {
  std::vector<TaskCore*> out;
  auto* f = dynamic_cast<FutureCore*>(&node);
  if (!f) return out;
  if (!f->done()) {
    if (f->is_task()) out.push_back(static_cast<TaskCore*>(f));
  } else {
    f->for_each_callback([&](ReadyNode* cb) {
      if (auto* t = dynamic_cast<TaskCore*>(cb)) out.push_back(t);
    });
  }
  for (TaskCore* t : out) t->incref();
  return out;
}

/// ≙ _format_handle: a task's step shows the task; a callback its handle.
std::string describe(ReadyNode& node, const std::vector<TaskCore*>& tasks) {
  if (!tasks.empty()) {
    std::string text;
    for (TaskCore* t : tasks) text += (text.empty() ? "" : ", ") + t->repr();
    return text;
  }
  if (auto* h = dynamic_cast<HandleState*>(&node)) return h->repr();
  return "<Handle>";
}

}  // namespace

void run_timed(EventLoop& loop, ReadyNode& node) noexcept {
  std::vector<TaskCore*> tasks;
  std::string handle;
  try {
    tasks = tasks_stepped_by(node);
    // A handle may free itself as it runs: described before.
    if (tasks.empty()) handle = describe(node, tasks);
  } catch (...) {  // out of memory: run it untimed
    return node.run_ready(false);
  }
  const double t0 = loop.time();
  node.run_ready(false);
  const double dt = loop.time() - t0;
  try {
    if (dt >= loop.slow_callback_duration()) {
      if (!tasks.empty()) handle = describe(node, tasks);
      char took[64];
      std::snprintf(took, sizeof took, " took %.3f seconds", dt);
      log_warning("Executing " + handle + took);
    }
  } catch (...) {
  }
  for (TaskCore* t : tasks) t->decref();
}

}  // namespace asyncio::detail
