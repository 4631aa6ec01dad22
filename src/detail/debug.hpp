// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: what debug mode records and reports (docs/debug.md,
// design-notes.md "Debug mode"). ≙ the `if self._debug:` branches of
// Lib/asyncio/base_events.py, futures.py and tasks.py
#ifndef ASYNCIO_SRC_DETAIL_DEBUG_HPP
#define ASYNCIO_SRC_DETAIL_DEBUG_HPP

#include <asyncio/detail/future_core.hpp>
#include <asyncio/detail/task_core.hpp>

#include <coroutine>

#include <source_location>
#include <string>
#include <unordered_map>
#include <vector>

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

/// A loop's debug-mode side table: the creation site of each future and
/// task made while debug mode was on (FutureCore::trace()). Kept out of
/// the objects so that they do not grow when debug mode is off.
struct DebugRecords {
  std::unordered_map<const FutureCore*, std::source_location> sites;
};

/// " created at file:line" for a recorded site, "" for null (≙ the
/// `created at` of base_futures._future_repr_info).
std::string created_at(const std::source_location* where);

/// A future's repr for a task's `wait_for=`: a task's repr, else
/// `<Future pending>` (with `created at` when recorded).
std::string describe_future(const FutureCore& f);

/// A frame's promise and a promise's frame, for every Promise<T> whose T
/// is aligned to 16 bytes or less (design-notes.md "Debug mode").
std::coroutine_handle<> frame_of(const TaskCore& promise) noexcept;
TaskCore& promise_of(std::coroutine_handle<> frame) noexcept;
/// The frames of task `t`, innermost first (TaskRef::get_stack()).
std::vector<std::coroutine_handle<>> stack_of(const TaskCore& t);

/// Debug mode's run of one ready-queue entry: timed, and reported with
/// "Executing <...> took 0.205 seconds" when it took at least
/// slow_callback_duration (≙ BaseEventLoop._run_once's debug branch).
void run_timed(EventLoop& loop, ReadyNode& node) noexcept;

/// A warning on stderr (≙ logger.warning of the asyncio logger).
void log_warning(const std::string& text) noexcept;

/// Debug mode: "unclosed <what> <repr>" for a resource the loop closes
/// because its owner did not (≙ the ResourceWarning of __del__).
void warn_unclosed(LoopCore* loop, const std::string& what) noexcept;

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_DEBUG_HPP
