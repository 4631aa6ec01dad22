// asyncio-cpp: SPDX-License-Identifier: MIT
// Who awaits whom: the call graph of tasks and futures. ≙ Lib/asyncio/graph.py
// (Python 3.14), built from the links the tasks already keep (docs/debug.md).
#ifndef ASYNCIO_GRAPH_HPP
#define ASYNCIO_GRAPH_HPP

#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>

#include <coroutine>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace asyncio {

/// One coroutine frame of a call stack (≙ graph.FrameCallGraphEntry,
/// whose `frame` is a Python frame object).
struct FrameCallGraphEntry {
  std::coroutine_handle<> frame;
};

/// A future or task, the frames it is suspended in, and the tasks
/// suspended on it (≙ graph.FutureCallGraph(future, call_stack, awaited_by)).
struct FutureCallGraph {
  /// The future or task (its native(), as ExceptionContext::source).
  const void* future = nullptr;
  /// The task; empty when `future` is a plain Future.
  TaskRef task;
  /// Innermost frame first (≙ the most recent call first). A task running
  /// now shows only its top frame: the frames of a running step call one
  /// another and are not linked.
  std::vector<FrameCallGraphEntry> call_stack;
  /// A graph for each task suspended on `future`, in the order they began
  /// to wait. (CPython also counts gather() and TaskGroup parents; here
  /// only a direct co_await links.)
  std::vector<FutureCallGraph> awaited_by;
};

/// ≙ the keyword arguments of capture_call_graph(): `limit` keeps at most
/// |limit| frames of each call stack, the innermost when positive, the
/// outermost when negative; 0 captures none (only awaited_by).
struct CallGraphOptions {
  std::optional<int> limit;
};

namespace detail {
FutureCallGraph capture_call_graph(FutureCore& future, const CallGraphOptions& options);
}  // namespace detail

/// The call graph of the current task (≙ capture_call_graph() with no
/// future); nullopt when a plain callback runs. RuntimeError
/// ("capture_call_graph() is called outside of a running event loop and
/// no *future* to introspect was provided") outside a loop.
std::optional<FutureCallGraph> capture_call_graph(CallGraphOptions options = {});
/// The call graph of `future` (a Future<T>, Task<T> or TaskRef).
template <class Core>
FutureCallGraph capture_call_graph(const detail::CoreRef<Core>& future, CallGraphOptions options = {}) {
  if (!future) detail::throw_uninitialized_future();
  return detail::capture_call_graph(*static_cast<Core*>(const_cast<void*>(future.native())), options);
}

/// The graph rendered as CPython's format_call_graph() does:
///     * Task(name='worker', id=0x...)
///       + Call stack:
///       |   <coroutine 0x...>
///       + Awaited by:
///         * Task(name='main', id=0x...)
std::string format_call_graph(const FutureCallGraph& graph);
/// format_call_graph() of the current task; "" when there is none.
std::string format_call_graph(CallGraphOptions options = {});
template <class Core>
std::string format_call_graph(const detail::CoreRef<Core>& future, CallGraphOptions options = {}) {
  return format_call_graph(capture_call_graph(future, options));
}

/// Prints format_call_graph() and a newline to `file` (stderr if null)
/// (≙ print_call_graph()).
void print_call_graph(CallGraphOptions options = {}, std::ostream* file = nullptr);
template <class Core>
void print_call_graph(const detail::CoreRef<Core>& future, CallGraphOptions options = {},
                      std::ostream* file = nullptr);

namespace detail {
void print_line(const std::string& text, std::ostream* file);
}  // namespace detail

template <class Core>
void print_call_graph(const detail::CoreRef<Core>& future, CallGraphOptions options, std::ostream* file) {
  detail::print_line(format_call_graph(future, options), file);
}

}  // namespace asyncio

#endif  // ASYNCIO_GRAPH_HPP
