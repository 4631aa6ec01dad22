// asyncio-cpp: SPDX-License-Identifier: MIT
// capture_call_graph() and its renderings. ≙ Lib/asyncio/graph.py (3.14):
// there a future's awaiters are recorded as they begin to wait
// (_asyncio_awaited_by); here they are found where a waiting task already
// is: among the future's done-callbacks, suspended on it.
#include <asyncio/graph.hpp>

#include "detail/debug.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <unordered_set>

namespace asyncio {

namespace detail {

namespace {

TaskRef ref_of(FutureCore& f) {
  if (!f.is_task()) return TaskRef();
  f.incref();
  return TaskRef(static_cast<TaskCore*>(&f));
}

std::vector<FrameCallGraphEntry> call_stack(FutureCore& f, std::optional<int> limit) {
  std::vector<FrameCallGraphEntry> out;
  if (!f.is_task() || limit == 0) return out;
  for (std::coroutine_handle<> h : stack_of(static_cast<TaskCore&>(f))) out.push_back({h});
  if (limit && static_cast<std::size_t>(std::abs(*limit)) < out.size()) {
    const auto keep = static_cast<std::size_t>(std::abs(*limit));
    if (*limit > 0)
      out.resize(keep);  // the innermost
    else
      out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(keep));  // the outermost
  }
  return out;
}

/// `seen` stops a cycle of tasks awaiting each other (a deadlock).
FutureCallGraph build(FutureCore& f, const CallGraphOptions& options, std::unordered_set<const FutureCore*>& seen) {
  FutureCallGraph g;
  g.future = &f;
  g.task = ref_of(f);
  g.call_stack = call_stack(f, options.limit);
  seen.insert(&f);
  std::vector<TaskCore*> waiters;
  f.for_each_callback([&](ReadyNode* cb) {
    auto* t = dynamic_cast<TaskCore*>(cb);
    if (t && t->waiter() == &f && !seen.count(t)) waiters.push_back(t);
  });
  for (TaskCore* t : waiters) g.awaited_by.push_back(build(*t, options, seen));
  return g;
}

void render(const FutureCallGraph& g, std::string& buf, int level) {
  const std::string indent(static_cast<std::size_t>(level) * 4, ' ');
  auto add_line = [&](const std::string& line) {
    if (!buf.empty()) buf += '\n';
    buf += indent + line;
  };
  char id[32];
  std::snprintf(id, sizeof id, "%#lx", static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(g.future)));
  if (g.task)
    add_line("* Task(name='" + g.task.get_name() + "', id=" + id + ")");
  else
    add_line(std::string("* Future(id=") + id + ")");
  if (!g.call_stack.empty()) {
    add_line("  + Call stack:");
    for (const FrameCallGraphEntry& e : g.call_stack) {
      char frame[48];
      std::snprintf(frame, sizeof frame, "%p", e.frame.address());
      add_line(std::string("  |   <coroutine ") + frame + ">");
    }
  }
  if (!g.awaited_by.empty()) {
    add_line("  + Awaited by:");
    for (const FutureCallGraph& parent : g.awaited_by) render(parent, buf, level + 1);
  }
}

}  // namespace

FutureCallGraph capture_call_graph(FutureCore& future, const CallGraphOptions& options) {
  std::unordered_set<const FutureCore*> seen;
  return build(future, options, seen);
}

void print_line(const std::string& text, std::ostream* file) { (file ? *file : std::cerr) << text << '\n'; }

}  // namespace detail

std::optional<FutureCallGraph> capture_call_graph(CallGraphOptions options) {
  if (!detail::tls.running)
    throw RuntimeError(
        "capture_call_graph() is called outside of a running event loop and no *future* to introspect was "
        "provided");
  detail::TaskCore* t = detail::tls.running->current_task;
  if (!t) return std::nullopt;
  return detail::capture_call_graph(*t, options);
}

std::string format_call_graph(const FutureCallGraph& graph) {
  std::string buf;
  detail::render(graph, buf, 0);
  return buf;
}

std::string format_call_graph(CallGraphOptions options) {
  std::optional<FutureCallGraph> g = capture_call_graph(options);
  return g ? format_call_graph(*g) : std::string();
}

void print_call_graph(CallGraphOptions options, std::ostream* file) {
  detail::print_line(format_call_graph(options), file);
}

}  // namespace asyncio
