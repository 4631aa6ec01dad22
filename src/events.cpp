// asyncio-cpp: SPDX-License-Identifier: MIT
// The event loop proper. ≙ Lib/asyncio/base_events.py (BaseEventLoop)
#include <asyncio/events.hpp>

#include <asyncio/contextvars.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>
#include <asyncio/threads.hpp>

#include "detail/debug.hpp"
#include "detail/loop_impl.hpp"
#include "detail/report.hpp"
#include "detail/threadsafe.hpp"
#include "detail/uv_error.hpp"
#include "detail/uv_handle.hpp"
#include "detail/uv_loop.hpp"

#include <uv.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace asyncio {

namespace detail {

void print_context(const ExceptionContext& ctx) noexcept {
  try {
    // CPython's order: the context's keys sorted.
    std::string text = ctx.message;
    if (!ctx.future.empty()) text += "\nfuture: " + ctx.future;
    if (!ctx.handle.empty()) text += "\nhandle: " + ctx.handle;
    if (const auto& where = ctx.source_traceback)
      text += "\nsource_traceback: Object created at (most recent call last):\n  File \"" +
              std::string(where->file_name()) + "\", line " + std::to_string(where->line()) + ", in " +
              where->function_name();
    if (!ctx.task.empty()) text += "\ntask: " + ctx.task;
    if (ctx.exception) text += "\nexception: " + describe(ctx.exception);
    std::fprintf(stderr, "%s\n", text.c_str());
  } catch (...) {
    std::fprintf(stderr, "%s\n", ctx.message.c_str());
  }
}

void report(LoopCore* loop, const ExceptionContext& ctx) noexcept {
  if (loop && loop->owner)
    loop->owner->call_exception_handler(ctx);
  else
    print_context(ctx);
}

void report_callback_error(LoopCore* loop, std::exception_ptr e, std::string handle,
                           std::optional<std::source_location> site) noexcept {
  if (classify(e) == ExceptionKind::fatal) {
    if (loop) loop->fatal = e;
    return;
  }
  ExceptionContext ctx;
  try {
    ctx.message = "Exception in callback " + handle;
    ctx.handle = handle;
  } catch (...) {
  }
  ctx.source_traceback = site;
  ctx.exception = std::move(e);
  report(loop, ctx);
}

}  // namespace detail

using detail::HandleState;

namespace detail {

class ThreadsafeQueue {
 public:
  ThreadsafeQueue(LoopCore* core, uv_async_t* async) noexcept : core_(core), async_(async) {}

  /// Queues `h` (which holds its queue reference); false once closed.
  bool push(HandleState* h) {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    queue_.push_back(h);
    core_->threadsafe_pending.store(true, std::memory_order_release);
    uv_async_send(async_);
    return true;
  }
  std::vector<HandleState*> take() {
    std::lock_guard lock(mutex_);
    core_->threadsafe_pending.store(false, std::memory_order_relaxed);
    return std::exchange(queue_, {});
  }
  /// From now on push() refuses; returns what was left.
  std::vector<HandleState*> close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    core_->threadsafe_pending.store(false, std::memory_order_relaxed);
    return std::exchange(queue_, {});
  }
  LoopCore* core() const noexcept { return core_; }

  // The executor calls that are out (loop thread only).
  void track(std::shared_ptr<ExecutorCall> call) {
    ExecutorCall* key = call.get();
    calls_.emplace(key, std::move(call));
  }
  void untrack(ExecutorCall* call) noexcept { calls_.erase(call); }
  /// At close, after the posted finishes were dropped (and so run).
  void abandon_calls() noexcept {
    for (auto& [key, call] : std::exchange(calls_, {})) call->abandon();
  }

 private:
  std::unordered_map<ExecutorCall*, std::shared_ptr<ExecutorCall>> calls_;
  std::mutex mutex_;  // guards what follows; core_ and async_ are used only while open
  std::vector<HandleState*> queue_;
  bool closed_ = false;
  LoopCore* core_;
  uv_async_t* async_;
};

bool post(ThreadsafeQueue& port, std::function<void()> cb) {
  auto* h = new HandleState(port.core(), std::move(cb));
  if (port.push(h)) return true;
  delete h;
  return false;
}

void track_call(ThreadsafeQueue& port, std::shared_ptr<ExecutorCall> call) { port.track(std::move(call)); }
void untrack_call(ThreadsafeQueue& port, ExecutorCall* call) noexcept { port.untrack(call); }

LoopCore::~LoopCore() { delete records; }

std::string HandleState::repr() const {
  return std::string("<Handle") + (cancelled ? " cancelled" : "") + created_at(site ? &*site : nullptr) + ">";
}

void LoopCore::drain_threadsafe() noexcept {
  for (HandleState* h : static_cast<ThreadsafeQueue*>(threadsafe_queue)->take()) enqueue(h);
}

}  // namespace detail

// ---- Handle -------------------------------------------------------------

Handle::Handle(const Handle& o) noexcept : s_(o.s_) {
  if (s_) s_->incref();
}
Handle& Handle::operator=(const Handle& o) noexcept {
  Handle copy(o);
  std::swap(s_, copy.s_);
  return *this;
}
Handle::Handle(Handle&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
Handle& Handle::operator=(Handle&& o) noexcept {
  std::swap(s_, o.s_);
  return *this;
}
Handle::~Handle() {
  if (s_) s_->decref();
}

void Handle::cancel() noexcept {
  if (!s_ || s_->cancelled) return;
  s_->cancelled = true;
  // Out of the heap at once (O(log n)): a loop that cancels timers faster
  // than they come due keeps no dead ones (EventLoop.CancelledTimersLeaveTheHeap).
  if (s_->in_heap()) {
    s_->loop->timers.remove(*s_);
    s_->decref();  // the heap's reference; the Handle holds its own
  }
}

bool Handle::cancelled() const noexcept { return s_ && s_->cancelled; }

double TimerHandle::when() const noexcept { return s_ ? s_->when : 0; }

// ---- EventLoop ----------------------------------------------------------


namespace {

// While tasks are ready the loop does not wait, and polls I/O without
// waiting only every this many passes: a poll is a system call (~160 ns
// here) and a pass of ready tasks can be far cheaper. Timers are checked on
// every pass, and a pass with nothing ready waits in the poll, so neither
// I/O nor timers can starve.
constexpr unsigned passes_per_poll = 32;
// The longest single wait in libuv (CPython's MAXIMUM_SELECT_TIMEOUT).
constexpr double max_wait_seconds = 24 * 3600;

double monotonic() noexcept {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

namespace {

/// This thread's current loop (set_event_loop, or the first one made here).
thread_local EventLoop* current_loop = nullptr;

}  // namespace

EventLoop::EventLoop() : EventLoop(LoopOptions{}) {}

namespace {

/// The loop's own libuv state: the loop, its wake-up timer and the async
/// handle other threads wake it with. Each can fail at the descriptor limit
/// (epoll, eventfd): then what was made is closed again and OSError raised,
/// as CPython's new_event_loop() raises it from the selector.
void init_uv(uv_loop_t& uv, uv_timer_t& wake, uv_async_t& async) {
  if (int rc = uv_loop_init(&uv)) detail::throw_os_error(rc);
  int rc = uv_timer_init(&uv, &wake);
  if (rc == 0) rc = uv_async_init(&uv, &async, [](uv_async_t*) {});
  if (rc == 0) return;
  uv_walk(&uv, [](uv_handle_t* h, void*) { uv_close(h, nullptr); }, nullptr);
  uv_run(&uv, UV_RUN_DEFAULT);
  uv_loop_close(&uv);
  detail::throw_os_error(rc);
}

}  // namespace

namespace {

/// ≙ coroutines._is_debug_mode(): PYTHONASYNCIODEBUG set and not empty.
bool debug_from_environment() noexcept {
  const char* v = std::getenv("ASYNCIO_DEBUG");
  return v && *v;
}

}  // namespace

EventLoop::EventLoop(LoopOptions options) : core_(new detail::LoopCore), impl_(new Impl) {
  core_->owner = this;
  impl_->virtual_time = options.virtual_time;
  set_debug(options.debug ? *options.debug : debug_from_environment());
  try {
    init_uv(impl_->uv, impl_->wake, impl_->async);
  } catch (...) {
    core_->owner = nullptr;
    core_->decref();
    throw;
  }
  impl_->wake.data = impl_->async.data = nullptr;
  impl_->posted = std::make_shared<detail::ThreadsafeQueue>(core_, &impl_->async);
  core_->threadsafe_queue = impl_->posted.get();
  // Unreferenced, so that uv_loop_alive() tells whether anything else (I/O)
  // is there to poll; referenced again only to wait for other threads.
  uv_unref(reinterpret_cast<uv_handle_t*>(&impl_->async));
  if (!current_loop) current_loop = this;
}

EventLoop& get_event_loop() {
  if (detail::tls.running) return *detail::tls.running->owner;
  if (!current_loop) {
    const bool main_thread = ::getpid() == static_cast<pid_t>(::syscall(SYS_gettid));
    throw RuntimeError(std::string("There is no current event loop in thread '") +
                       (main_thread ? "MainThread" : "Thread-" + std::to_string(::syscall(SYS_gettid))) + "'.");
  }
  return *current_loop;
}

void set_event_loop(EventLoop* loop) noexcept { current_loop = loop; }

EventLoop::~EventLoop() {
  close();
  core_->owner = nullptr;
  core_->decref();
}

void EventLoop::check_closed() const {
  if (impl_->closed) throw RuntimeError("Event loop is closed");
}

void EventLoop::check_call() const {
  if (impl_->guarded) [[unlikely]]
    check_guarded();
}

void EventLoop::check_guarded() const {
  check_closed();
  // ≙ BaseEventLoop._check_thread: only while a thread runs the loop.
  const std::thread::id running = impl_->thread_id.load(std::memory_order_relaxed);
  if (core_->debug && running != std::thread::id{} && running != std::this_thread::get_id())
    throw RuntimeError("Non-thread-safe operation invoked on an event loop other than the current one");
}

void EventLoop::set_debug(bool enabled) noexcept {
  core_->debug = enabled;
  core_->task_hook = enabled || static_cast<bool>(impl_->task_factory.on_create);
  impl_->guarded = enabled || impl_->closed;
}

double EventLoop::slow_callback_duration() const noexcept { return impl_->slow_callback_duration; }
void EventLoop::set_slow_callback_duration(double seconds) noexcept { impl_->slow_callback_duration = seconds; }

void EventLoop::advance_time(double seconds) {
  if (!impl_->virtual_time) throw RuntimeError("advance_time() needs a virtual_time loop");
  impl_->vtime += seconds;
}

bool EventLoop::is_running() const noexcept { return impl_->running; }
bool EventLoop::is_closed() const noexcept { return impl_->closed; }

double EventLoop::time() const noexcept { return impl_->virtual_time ? impl_->vtime : monotonic(); }

Handle EventLoop::call_soon(std::function<void()> cb, std::source_location where) {
  check_call();
  auto* h = new HandleState(core_, std::move(cb));
  if (core_->debug) h->site = where;
  h->refs = 2;  // the queue's and the Handle's
  core_->push(h);
  return Handle(h);
}

Handle EventLoop::call_soon_threadsafe(std::function<void()> cb) {
  return post_handle(new HandleState(core_, std::move(cb)));
}

Handle EventLoop::post_handle(HandleState* h) {
  h->refs = 2;
  if (!impl_->posted->push(h)) {
    delete h;
    throw RuntimeError("Event loop is closed");
  }
  return Handle(h);
}

// The context= forms: the handle is not run before it is returned (the
// threadsafe one is given its context before it is posted).
Handle EventLoop::call_soon(std::function<void()> cb, const Context& context, std::source_location where) {
  Handle h = call_soon(std::move(cb), where);
  h.s_->set_context(context.core());
  return h;
}

Handle EventLoop::call_soon_threadsafe(std::function<void()> cb, const Context& context) {
  auto* h = new HandleState(core_, std::move(cb));
  h->set_context(context.core());
  return post_handle(h);
}

TimerHandle EventLoop::call_later(double delay, std::function<void()> cb, const Context& context,
                                  std::source_location where) {
  return call_at(time() + delay, std::move(cb), context, where);
}

TimerHandle EventLoop::call_at(double when, std::function<void()> cb, const Context& context,
                               std::source_location where) {
  TimerHandle h = call_at(when, std::move(cb), where);
  h.s_->set_context(context.core());
  return h;
}

TimerHandle EventLoop::call_later(double delay, std::function<void()> cb, std::source_location where) {
  return call_at(time() + delay, std::move(cb), where);
}

TimerHandle EventLoop::call_at(double when, std::function<void()> cb, std::source_location where) {
  check_call();
  if (std::isnan(when)) throw std::invalid_argument("Invalid time: NaN (not a number)");
  auto* h = new HandleState(core_, std::move(cb));
  if (core_->debug) h->site = where;
  h->refs = 2;  // the heap's and the TimerHandle's
  core_->timers.push(*h, when);
  return TimerHandle(h);
}

void EventLoop::stop() noexcept { impl_->stopping = true; }

void EventLoop::check_runnable() const {
  check_closed();
  if (impl_->running) throw RuntimeError("This event loop is already running");
  if (detail::tls.running) throw RuntimeError("Cannot run the event loop while another loop is running");
}

void EventLoop::run_forever() {
  check_runnable();
  impl_->running = true;
  impl_->thread_id.store(std::this_thread::get_id(), std::memory_order_relaxed);
  detail::tls.running = core_;
  struct Reset {
    EventLoop& loop;
    ~Reset() {
      loop.impl_->thread_id.store(std::thread::id{}, std::memory_order_relaxed);
      loop.impl_->stopping = false;
      loop.impl_->running = false;
      detail::tls.running = nullptr;
    }
  } reset{*this};
  for (;;) {
    run_once();
    if (impl_->stopping) break;
  }
}

namespace {

/// Runs a chain of ready entries with `run`; a fatal exception stops the
/// pass, the rest going back to the front of the queue (spec S10).
template <class Run>
void run_chain(detail::LoopCore& core, detail::ReadyNode* n, Run run) {
  while (n) {
    detail::ReadyNode* next = n->next;
    run(*n);
    n = next;
    if (core.fatal) {
      core.requeue_front(n);
      std::rethrow_exception(std::exchange(core.fatal, nullptr));
    }
  }
}

// run_until_complete's done-callback (≙ _run_until_complete_cb).
class StopLoop final : public detail::ReadyNode {
 public:
  explicit StopLoop(EventLoop& loop) noexcept : loop_(loop) {}
  void on_done(detail::FutureCore&) override { loop_.stop(); }

 private:
  EventLoop& loop_;
};

}  // namespace

void EventLoop::run_until_done(detail::FutureCore& f) {
  check_closed();
  if (f.loop() != core_)
    throw std::invalid_argument("The future belongs to a different loop than the one specified as the loop argument");
  // Lives on this stack frame: removed below on every path before it dies.
  StopLoop cb(*this);
  f.add_done(&cb);
  try {
    run_forever();
  } catch (...) {
    f.remove_callback(&cb);
    throw;
  }
  f.remove_callback(&cb);
  if (!f.done()) throw RuntimeError("Event loop stopped before Future completed.");
}

void EventLoop::run_once() {
  Impl& im = *impl_;
  detail::TimerHeap& timers = core_->timers;

  const bool busy =
      core_->has_ready() || im.stopping || core_->threadsafe_pending.load(std::memory_order_acquire);
  if (busy) {
    if (++im.busy_passes >= passes_per_poll) {
      im.busy_passes = 0;
      if (uv_loop_alive(&im.uv)) uv_run(&im.uv, UV_RUN_NOWAIT);
    }
  } else {
    im.busy_passes = 0;
    if (timers.empty()) {
      // Nothing to do but wait for I/O or another thread.
      auto* async = reinterpret_cast<uv_handle_t*>(&im.async);
      uv_ref(async);
      uv_run(&im.uv, UV_RUN_ONCE);
      uv_unref(async);
    } else if (im.virtual_time) {
      im.vtime = std::max(im.vtime, timers.top().when);
      uv_run(&im.uv, UV_RUN_NOWAIT);
    } else {
      const double wait = timers.top().when - monotonic();
      if (wait <= 0) {
        uv_run(&im.uv, UV_RUN_NOWAIT);
      } else {
        // libuv counts the timeout from its cached clock, which is stale
        // after passes that did not poll: refresh it first. Should the timer
        // still fire before the poll (libuv runs due timers first), uv_stop
        // keeps that poll from waiting with no timeout at all.
        // A wait is capped at a day, as CPython's MAXIMUM_SELECT_TIMEOUT:
        // sleep(inf) is a common idiom, and inf milliseconds has no integer.
        uv_update_time(&im.uv);
        uv_timer_start(&im.wake, [](uv_timer_t* t) { uv_stop(t->loop); },
                       static_cast<std::uint64_t>(std::ceil(std::min(wait, max_wait_seconds) * 1000)), 0);
        uv_run(&im.uv, UV_RUN_ONCE);
        uv_timer_stop(&im.wake);
      }
    }
  }

  if (core_->threadsafe_pending.load(std::memory_order_acquire)) core_->drain_threadsafe();

  if (!timers.empty()) {
    const double end = time() + detail::clock_resolution;
    while (!timers.empty() && timers.top().when <= end) {
      detail::TimerNode& n = timers.top();
      timers.remove(n);
      n.due(n, *core_);
    }
  }

  // Run exactly what was ready when the pass began; what these callbacks
  // schedule waits for the next pass. Debug mode times each entry
  // (a pass of its own, so that the usual one tests nothing per entry).
  detail::ReadyNode* n = core_->take_all();
  if (core_->debug) [[unlikely]]
    run_chain(*core_, n, [this](detail::ReadyNode& r) { detail::run_timed(*this, r); });
  else
    run_chain(*core_, n, [](detail::ReadyNode& r) { r.run_ready(false); });
}

void EventLoop::close() {
  Impl& im = *impl_;
  if (im.running) throw RuntimeError("Cannot close a running event loop");
  if (current_loop == this) current_loop = nullptr;
  if (im.closed) return;
  // Workers may still post results: let them finish while the loop's
  // mailbox still takes posts (they are then dropped below, unrun).
  shutdown_default_executor();
  im.closed = true;
  im.guarded = true;
  core_->accepting = false;
  for (HandleState* h : im.posted->close()) h->run_ready(true);
  im.posted->abandon_calls();
  for (detail::ReadyNode* n = core_->take_all(); n;) {
    detail::ReadyNode* next = n->next;
    n->run_ready(true);
    n = next;
  }
  // Timeouts still queued become unqueued (their frames release their
  // hold on the core); call_later handles are released.
  core_->timers.clear([](detail::TimerNode& n) {
    if (n.due == &HandleState::on_due) static_cast<HandleState&>(n).decref();
  });
  while (core_->tasks) core_->tasks->orphan();
  uv_close(reinterpret_cast<uv_handle_t*>(&im.wake), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&im.async), nullptr);
  // I/O handles users left open: each owner closes its own (data is null
  // only for the two handles above).
  uv_walk(
      &im.uv,
      [](uv_handle_t* h, void*) {
        if (h->data && !uv_is_closing(h)) detail::UvHandle::of(h)->close_for_loop_shutdown();
      },
      nullptr);
  im.signals.reset();  // the watchers free themselves as their handles close
  // The add_reader / add_writer watchers free themselves the same way; the
  // map stays (empty) while the EventLoop exists: a waiting frame freed
  // later looks its registration up there (selector_events.cpp).
  if (im.fd_watchers) im.fd_watchers->by_fd.clear();
  uv_run(&im.uv, UV_RUN_DEFAULT);
  uv_loop_close(&im.uv);
}

void EventLoop::set_exception_handler(ExceptionHandler handler) { impl_->handler = std::move(handler); }

void EventLoop::set_task_factory(const TaskFactory& factory) {
  impl_->task_factory = factory;
  core_->eager_tasks = factory.eager;
  core_->task_hook = core_->debug || static_cast<bool>(factory.on_create);
}

const TaskFactory& EventLoop::get_task_factory() const noexcept { return impl_->task_factory; }

void EventLoop::launch_task(detail::TaskCore& task, std::source_location where) {
  if (core_->debug) {
    try {
      task.trace(where);
    } catch (...) {  // out of memory: the task goes on without its site
    }
  }
  if (impl_->task_factory.on_create) {
    try {
      task.incref();
      impl_->task_factory.on_create(TaskRef(&task));
    } catch (...) {
      // Not left pending forever: the first step finds the cancellation
      // and ends the task without running its body.
      task.cancel({});
      task.launch();
      throw;
    }
  }
  task.launch();
}

void EventLoop::default_exception_handler(const ExceptionContext& context) { detail::print_context(context); }

void EventLoop::call_exception_handler(const ExceptionContext& context) noexcept {
  if (!impl_->handler) return detail::print_context(context);
  try {
    impl_->handler(*this, context);
  } catch (...) {
    ExceptionContext ctx;
    ctx.message = "Unhandled error in exception handler";
    ctx.exception = std::current_exception();
    detail::print_context(ctx);
  }
}

EventLoop& get_running_loop() { return *detail::running_core().owner; }

uv_loop_t* detail::uv_loop_of(EventLoop& loop) noexcept { return &loop.impl_->uv; }

std::shared_ptr<detail::ThreadsafeQueue> detail::threadsafe_port(EventLoop& loop) { return loop.impl_->posted; }

}  // namespace asyncio
