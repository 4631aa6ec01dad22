// asyncio-cpp: SPDX-License-Identifier: MIT
// Asynchronous generators: the steps, the rules of anext/asend/athrow/aclose
// (Objects/genobject.c), and the loop's finalisation of dropped generators
// (Lib/asyncio/base_events.py: _asyncgen_finalizer_hook, shutdown_asyncgens).
#include <asyncio/asyncgen.hpp>

#include <asyncio/events.hpp>
#include <asyncio/tasks.hpp>

#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace asyncio {

namespace detail {

namespace {

// The live generators that have started, with their loop (≙ the loop's
// _asyncgens weak set, kept by the firstiter hook). One list for the
// process: generators are registered once, at their first step, so the
// lock is off every hot path.
struct Registry {
  std::mutex mutex;
  AsyncGenCore* head = nullptr;
};
Registry& registry() {
  static Registry r;
  return r;
}

const char* running_message(GenOp op) noexcept {
  switch (op) {
    case GenOp::raise:
      return "athrow(): asynchronous generator is already running";
    case GenOp::close:
      return "aclose(): asynchronous generator is already running";
    default:
      return "anext(): asynchronous generator is already running";
  }
}

// Owns a generator's frame for the task that closes it.
class GenOwner {
 public:
  explicit GenOwner(AsyncGenCore* g) noexcept : g_(g) {}
  GenOwner(GenOwner&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
  GenOwner& operator=(GenOwner&&) = delete;
  ~GenOwner() {
    if (g_) destroy_frame(g_->self());
  }
  AsyncGenCore* get() const noexcept { return g_; }

 private:
  AsyncGenCore* g_;
};

std::exception_ptr generator_exit() { return std::make_exception_ptr(GeneratorExit()); }

// The finalizer's task: aclose() of a dropped generator, which it owns.
Coroutine<> aclose_owned(GenOwner owner) { co_await GenOpAwaiter(owner.get(), GenOp::close, generator_exit()); }

bool registered(AsyncGenCore* g) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (AsyncGenCore* p = r.head; p; p = p->reg_next)
    if (p == g) return true;
  return false;
}

// shutdown_asyncgens()'s task for a generator someone else still owns.
Coroutine<> aclose_borrowed(AsyncGenCore* g) {
  // Another generator's cleanup may have dropped this one meanwhile.
  if (!registered(g) || g->gen_state() != AsyncGenCore::GenState::suspended) co_return;
  co_await GenOpAwaiter(g, GenOp::close, generator_exit());
}

std::string gen_repr(const void* g) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "<async_generator object at %p>", g);
  return buf;
}

}  // namespace

[[noreturn]] void throw_reused_gen_op(GenOp op) {
  if (op == GenOp::raise || op == GenOp::close) throw RuntimeError("cannot reuse already awaited aclose()/athrow()");
  throw RuntimeError("cannot reuse already awaited __anext__()/asend()");
}

[[noreturn]] void throw_empty_generator() {
  throw std::invalid_argument("an asynchronous generator was expected, got an empty AsyncGenerator");
}

AsyncGenCore::~AsyncGenCore() {
  if (!loop_) return;
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (reg_prev)
    reg_prev->reg_next = reg_next;
  else
    r.head = reg_next;
  if (reg_next) reg_next->reg_prev = reg_prev;
}

void AsyncGenCore::first_iteration() noexcept {
  // ≙ the loop's firstiter hook: the generator belongs to the running loop.
  if (!tls.running) return;
  attach(tls.running);
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  reg_next = r.head;
  if (r.head) r.head->reg_prev = this;
  r.head = this;
}

bool AsyncGenCore::prepare(GenOp op, const std::exception_ptr& exc, bool sends_value) {
  if (gen_state_ == GenState::running) throw RuntimeError(running_message(op));
  if (gen_state_ == GenState::done) return false;  // StopAsyncIteration, or aclose() of a closed one
  if (gen_state_ == GenState::created) {
    if (sends_value) throw std::invalid_argument("can't send non-None value to a just-started async generator");
    // Thrown into a frame that never ran: raised at once, and the
    // generator is over (gen_throw on FRAME_CREATED).
    if (op == GenOp::close) {
      gen_state_ = GenState::done;
      return false;
    }
    if (op == GenOp::raise) {
      gen_state_ = GenState::done;
      std::rethrow_exception(exc);
    }
  }
  throw_in_ = (op == GenOp::raise || op == GenOp::close) ? exc : nullptr;
  return true;
}

bool AsyncGenCore::run(std::coroutine_handle<> consumer, unsigned depth) noexcept {
  if (gen_state_ == GenState::created) first_iteration();
  gen_state_ = GenState::running;
  stopped_ = false;
  discard_value();  // the previous value, if the consumer left it (Iterator)
  if (depth >= max_inline_depth) {
    // Too deep for a nested call: the step's trampoline resumes the frame.
    set_inline(false);
    set_depth(0);
    link_ = consumer;
    tls.next = self_;
    return true;
  }
  set_depth(depth + 1);
  set_inline(true);
  self_.resume();
  if (stopped_) return false;  // yielded or ended without suspending
  // It awaits something: it hands control back to the consumer when it stops.
  set_inline(false);
  link_ = consumer;
  return true;
}

void AsyncGenCore::stop(bool at_end) noexcept {
  stopped_ = true;
  gen_state_ = at_end ? GenState::done : GenState::suspended;
  if (!is_inline()) tls.next = link_;  // resumed by the trampoline: the consumer is next
}

bool AsyncGenCore::finish(GenOp op) {
  if (gen_state_ != GenState::done) {
    if (op == GenOp::close) {
      discard_value();
      throw RuntimeError("async generator ignored GeneratorExit");
    }
    return true;
  }
  throw_in_ = nullptr;
  std::exception_ptr e = std::exchange(error_, nullptr);
  if (!e) return false;
  if (op != GenOp::close) std::rethrow_exception(e);
  try {
    std::rethrow_exception(e);
  } catch (const GeneratorExit&) {
    return false;  // the body let GeneratorExit out: closed
  }
}

void AsyncGenCore::release(AsyncGenCore& g) noexcept {
  LoopCore* loop = g.loop_;
  const bool closable = g.gen_state_ == GenState::suspended && loop && loop->accepting && loop->owner &&
                        (tls.running == loop || !tls.running);
  if (!closable) return destroy_frame(g.self_);
  // ≙ _asyncgen_finalizer_hook: aclose() as a task of the generator's loop.
  // On the running loop the task's first step runs now (as an eager
  // task's), inside whatever step dropped the generator: that step's
  // trampoline slot and current task are kept aside meanwhile.
  // Closing one generator may drop others (its locals) and so nest eager
  // steps: past max_inline_depth of them the task waits for its turn in the
  // loop instead, so that the native stack stays bounded (test
  // DroppingADeepChainKeepsTheStackBounded).
  static thread_local unsigned nested = 0;
  const std::coroutine_handle<> next = tls.next;
  const bool eager = loop->eager_tasks;
  loop->eager_tasks = tls.running == loop && nested < max_inline_depth;
  ++nested;
  try {
    loop->owner->create_task(aclose_owned(GenOwner(&g)));
  } catch (...) {
    // The frame was handed to the coroutine (or its task), which freed it.
  }
  --nested;
  loop->eager_tasks = eager;
  tls.next = next;
}

}  // namespace detail

Coroutine<> shutdown_asyncgens() {
  detail::LoopCore& core = detail::running_core();
  std::vector<detail::AsyncGenCore*> gens;
  {
    detail::Registry& r = detail::registry();
    std::lock_guard lock(r.mutex);
    for (detail::AsyncGenCore* g = r.head; g; g = g->reg_next)
      if (g->loop() == &core && g->gen_state() == detail::AsyncGenCore::GenState::suspended) gens.push_back(g);
  }
  if (gens.empty()) co_return;
  std::vector<Task<void>> tasks;
  tasks.reserve(gens.size());
  for (detail::AsyncGenCore* g : gens) tasks.push_back(create_task(detail::aclose_borrowed(g)));
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    std::exception_ptr error;
    try {
      co_await tasks[i];
    } catch (const std::exception&) {
      error = std::current_exception();  // gather(return_exceptions=True): Exceptions are reported
    } catch (...) {
    }
    if (!error) continue;
    ExceptionContext ctx;
    ctx.message = "an error occurred during closing of asynchronous generator " + detail::gen_repr(gens[i]);
    ctx.exception = error;
    core.owner->call_exception_handler(ctx);
  }
}

}  // namespace asyncio
