// asyncio-cpp: SPDX-License-Identifier: MIT
// shield(): await something without letting a cancellation reach it.
// ≙ asyncio.shield in Lib/asyncio/tasks.py
#ifndef ASYNCIO_SHIELD_HPP
#define ASYNCIO_SHIELD_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/detail/composition.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/tasks.hpp>

#include <string>
#include <type_traits>
#include <utility>

namespace asyncio {

namespace detail {

/// The outer future of shield(): follows the inner one, but its own
/// cancellation stays its own. It is the done-callback registered on the
/// inner future (≙ _inner_done_callback, holding one reference), and its
/// own first callback (≙ _outer_done_callback) lets go of the inner one
/// once the outer is done.
template <class H>
class ShieldState final : public FutureState<typename H::value_type> {
  using T = typename H::value_type;

 public:
  ShieldState(LoopCore* loop, H inner) : FutureState<T>(loop), inner_(std::move(inner)), outer_done_(this) {}
  ~ShieldState() override { this->remove_callback(&outer_done_); }

  /// Registers both callbacks; the inner future must be pending.
  void watch() {
    this->incref();  // held by the registration on the inner future
    core_of(inner_)->add_callback(this);
    this->add_callback(&outer_done_);
  }

 private:
  struct OuterDone final : ReadyNode {
    explicit OuterDone(ShieldState* s) noexcept : s(s) {}
    // ≙ _outer_done_callback: once the outer is done (cancelled, in fact),
    // the inner future's completion no longer matters. Removing the
    // registration drops its reference (release_callback).
    void on_done(FutureCore&) override {
      if (!s->inner_.done()) core_of(s->inner_)->remove_callback(s);
    }
    ShieldState* s;
  };

  // ≙ _inner_done_callback.
  void on_done(FutureCore& inner) override {
    struct Release {
      ShieldState* self;
      ~Release() { self->decref(); }
    } release{this};
    if (this->cancelled()) {
      if (!inner.cancelled()) inner.mark_retrieved();
      return;
    }
    if (inner.cancelled()) {
      this->cancel({});
      return;
    }
    if (const std::exception_ptr& e = inner.stored_exception()) {
      inner.mark_retrieved();
      this->finish_exception(e);
      return;
    }
    if constexpr (std::is_void_v<T>)
      this->set_value();
    else
      this->set_value(shared_value(inner_.state()));
  }
  void release_callback() noexcept override { this->decref(); }

  H inner_;
  OuterDone outer_done_;
};

template <class H>
Future<typename H::value_type> shield_handle(H inner) {
  using T = typename H::value_type;
  FutureCore* core = core_of(inner);
  auto* s = new ShieldState<H>(core->loop(), std::move(inner));
  Future<T> outer(s);
  s->watch();
  return outer;
}

}  // namespace detail

/// Waits for `aw` without letting a cancellation reach it (≙ asyncio.shield):
/// returns an outer future that completes as `aw` does (its result, its
/// exception; cancelled if `aw` is cancelled). Cancelling the outer future,
/// or the task awaiting it, cancels only the outer future: `aw` runs on,
/// and `co_await asyncio::shield(t)` raises CancelledError in the awaiting
/// task. A future already done is returned as it is. The result is copied
/// to the outer future (`aw` is shared), so T must be copyable, or void.
template <class T>
  requires(std::is_void_v<T> || detail::copyable<T>)
Future<T> shield(Future<T> aw) {
  if (aw.done()) return aw;
  return detail::shield_handle(std::move(aw));
}

/// shield() of a task. A task already done gives a new future already done
/// with its outcome (CPython returns the task itself; the C++ return type
/// is one): its exception is then carried by the future, marked retrieved
/// on the task. T must be copyable, or void.
template <class T>
  requires(std::is_void_v<T> || detail::copyable<T>)
Future<T> shield(Task<T> aw) {
  if (!aw.done()) return detail::shield_handle(std::move(aw));
  Future<T> f = aw.get_loop().template create_future<T>();
  detail::FutureCore* core = detail::core_of(aw);
  if (aw.cancelled()) {
    f.cancel(detail::cancel_message(core->stored_exception()));
  } else if (const std::exception_ptr& e = core->stored_exception()) {
    core->mark_retrieved();
    f.set_exception(e);
  } else if constexpr (std::is_void_v<T>) {
    f.set_result();
  } else {
    f.set_result(detail::shared_value(aw.state()));
  }
  return f;
}

/// shield() of a coroutine: it becomes a task on the running loop (now),
/// which the returned future follows. Nobody else can read that task, so a
/// move-only result is moved to the outer future.
template <class T>
Future<T> shield(Coroutine<T> aw) {
  Task<T> inner = create_task(std::move(aw));
  if (!inner.done()) return detail::shield_handle(std::move(inner));
  // Finished inside create_task (an eager task).
  Future<T> f = inner.get_loop().template create_future<T>();
  if (inner.cancelled())
    f.cancel(detail::cancel_message(detail::core_of(inner)->stored_exception()));
  else if (const std::exception_ptr& e = detail::core_of(inner)->stored_exception())
    f.set_exception(e);
  else if constexpr (std::is_void_v<T>)
    f.set_result();
  else
    f.set_result(detail::shared_value(inner.state()));
  return f;
}

/// shield() of an awaitable operation (a stream read, a queue's get()): as
/// shield() of the coroutine it converts to.
template <class A>
  requires detail::CoroutineOperation<A>
Future<typename detail::coroutine_of_t<A>::value_type> shield(A&& aw) {
  return shield(detail::to_coroutine(std::forward<A>(aw)));
}

}  // namespace asyncio

#endif  // ASYNCIO_SHIELD_HPP
