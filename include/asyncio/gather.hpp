// asyncio-cpp: SPDX-License-Identifier: MIT
// gather(): run awaitables concurrently, results in argument order.
// ≙ asyncio.gather in Lib/asyncio/tasks.py
#ifndef ASYNCIO_GATHER_HPP
#define ASYNCIO_GATHER_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/outcome.hpp>
#include <asyncio/tasks.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace asyncio {

namespace detail {

/// What a child of type T contributes: T, or std::monostate for void.
template <class T>
using gather_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class A>
struct GatherArg {  // how an argument becomes a child
  static constexpr bool valid = false;
};
template <class T>
struct GatherArg<Coroutine<T>> {
  static constexpr bool valid = true;
  using child = Task<T>;
};
// A Task or Future is shared with others: its result is copied out, so it
// must be copyable (a move-only result is moved out of a coroutine gather
// wrapped itself, which nobody else sees).
template <class T>
struct GatherArg<Task<T>> {
  static constexpr bool valid = std::is_void_v<T> || copyable<T>;
  using child = Task<T>;
};
template <class T>
struct GatherArg<Future<T>> {
  static constexpr bool valid = std::is_void_v<T> || copyable<T>;
  using child = Future<T>;
};

// An awaitable operation that converts to a Coroutine (a queue's get()...).
template <class A>
  requires CoroutineOperation<A>
struct GatherArg<A> {
  static constexpr bool valid = true;
  using child = Task<typename coroutine_of_t<A>::value_type>;
};

/// What gather accepts: a Coroutine (or an operation that converts to
/// one), or a Task or Future whose result can be copied.
template <class A>
concept GatherAwaitable = GatherArg<std::decay_t<A>>::valid;

template <class H>
auto* typed_state(const H& h) noexcept {
  if constexpr (requires { h.state(); })
    return h.state();
  else
    return &h.handle().promise();  // a Coroutine promoted in place
}

/// The value of a child that finished with one, as shared_value() takes
/// it (only children gather made from coroutines can have a move-only T:
/// see GatherArg); std::monostate for void.
template <class T, class S>
gather_value_t<T> take_value(S* s) {
  if constexpr (std::is_void_v<T>)
    return {};
  else
    return shared_value(s);
}

template <class T, class S, bool Outcomes>
auto take_result(S* s) {
  if constexpr (Outcomes) {
    using O = Outcome<gather_value_t<T>>;
    if (const std::exception_ptr& e = s->stored_exception()) {
      s->mark_retrieved();
      return O(e);
    }
    return O(take_value<T>(s));
  } else {
    return take_value<T>(s);
  }
}

/// Children of a variadic gather, in argument order (duplicates kept).
template <bool Outcomes, class... H>
struct TupleStore {
  std::tuple<H...> children;
  using result_type = std::conditional_t<Outcomes, std::tuple<Outcome<gather_value_t<typename H::value_type>>...>,
                                         std::tuple<gather_value_t<typename H::value_type>...>>;
  template <class F>
  void for_each(F&& f) {
    std::apply([&](auto&... h) { (f(static_cast<FutureCore*>(typed_state(h))), ...); }, children);
  }
  /// Each distinct child once (an argument may repeat).
  template <class F>
  void for_each_unique(F&& f) {
    std::vector<FutureCore*> seen;
    for_each([&](FutureCore* c) {
      for (FutureCore* s : seen)
        if (s == c) return;
      seen.push_back(c);
      f(c);
    });
  }
  result_type collect() {
    return std::apply(
        [](auto&... h) {
          return result_type(take_result<typename std::decay_t<decltype(h)>::value_type,
                                         std::remove_pointer_t<decltype(typed_state(h))>, Outcomes>(typed_state(h))...);
        },
        children);
  }
};

/// Children of a gather over a vector, in order.
template <bool Outcomes, class H>
struct VectorStore {
  using T = typename H::value_type;
  using result_type = std::vector<std::conditional_t<Outcomes, Outcome<gather_value_t<T>>, gather_value_t<T>>>;
  std::vector<H> children;
  template <class F>
  void for_each(F&& f) {
    for (auto& h : children) f(static_cast<FutureCore*>(typed_state(h)));
  }
  /// Each distinct child once: coroutines are distinct by construction;
  /// tasks and futures may repeat.
  template <class F>
  void for_each_unique(F&& f) {
    if constexpr (requires(const H& h) { h.state(); }) {
      std::vector<FutureCore*> cores;
      cores.reserve(children.size());
      for_each([&](FutureCore* c) { cores.push_back(c); });
      std::vector<FutureCore*> distinct(cores);
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      std::vector<bool> seen(distinct.size());
      for (FutureCore* c : cores) {  // in argument order
        auto i = std::lower_bound(distinct.begin(), distinct.end(), c) - distinct.begin();
        if (seen[i]) continue;
        seen[i] = true;
        f(c);
      }
    } else {
      for_each(std::forward<F>(f));
    }
  }
  result_type collect() {
    result_type out;
    out.reserve(children.size());
    for (auto& h : children)
      out.push_back(take_result<T, std::remove_pointer_t<decltype(typed_state(h))>, Outcomes>(typed_state(h)));
    return out;
  }
};

/// The future gather() returns (≙ _GatheringFuture). Its cancel() cancels
/// every child; it completes from the children's done-callbacks.
template <class Store>
class GatherState final : public FutureState<typename Store::result_type> {
  using Base = FutureState<typename Store::result_type>;

 public:
  GatherState(LoopCore* loop, Store store, bool return_exceptions)
      : Base(loop), store_(std::move(store)), return_exceptions_(return_exceptions) {}

  /// Registers the done-callback once per distinct child (each holds a
  /// reference to this state); completes at once when there are none.
  void watch_children() {
    store_.for_each_unique([&](FutureCore* c) {
      ++pending_;
      this->incref();
      c->add_done(this);
    });
    if (pending_ == 0) this->set_value(store_.collect());
  }

  bool cancel(std::string msg) override {
    if (this->done()) return false;
    bool any = false;
    store_.for_each([&](FutureCore* c) { any = c->cancel(msg) || any; });
    if (any) cancel_requested_ = true;
    return any;
  }

 private:
  /// A child is done (this state is each child's done-callback, holding
  /// one reference per child).
  void on_done(FutureCore& child) override {
    struct Release {
      GatherState* self;
      ~Release() { self->decref(); }
    } release{this};
    child_done(child);
  }
  void release_callback() noexcept override { this->decref(); }

  void child_done(FutureCore& child) {
    --pending_;
    if (this->done()) {
      if (!child.cancelled()) child.mark_retrieved();
      return;
    }
    if (!return_exceptions_) {
      // The first failure, in completion order, becomes the outcome; the
      // other children keep running (spec §2).
      if (child.cancelled()) return this->finish_exception(child.stored_exception());
      if (const std::exception_ptr& e = child.stored_exception()) {
        child.mark_retrieved();
        return this->finish_exception(e);
      }
    }
    if (pending_ != 0) return;
    if (cancel_requested_) {
      // Even with return_exceptions, cancelling gather raises (bpo-32684).
      return this->finish_exception(child.cancelled() ? child.stored_exception() : make_cancelled_error({}));
    }
    this->set_value(store_.collect());
  }

  Store store_;
  std::size_t pending_ = 0;
  bool return_exceptions_;
  bool cancel_requested_ = false;
};

template <class Store>
auto make_gather(LoopCore* loop, Store store, bool return_exceptions) {
  auto* g = new GatherState<Store>(loop, std::move(store), return_exceptions);
  Future<typename Store::result_type> outer(g);
  g->watch_children();
  return outer;
}

void check_same_loop(LoopCore* expected, FutureCore* f);

/// Turns the arguments into children: coroutines become tasks (an lvalue
/// coroutine passed twice becomes one task), tasks and futures are shared.
class GatherBuilder {
 public:
  explicit GatherBuilder(LoopCore* loop) : loop_(loop) {}

  template <class T>
  Task<T> child(Coroutine<T>&& c) {
    return loop_->owner->create_task(std::move(c));
  }
  template <class T>
  Task<T> child(Coroutine<T>& c) {
    for (auto& [addr, core] : seen_)
      if (addr == &c) {
        core->incref();
        return Task<T>(static_cast<Promise<T>*>(core));
      }
    Task<T> t = loop_->owner->create_task(std::move(c));
    seen_.emplace_back(&c, t.state());
    return t;
  }
  template <class A>
    requires CoroutineOperation<A>
  auto child(A&& op) {
    return loop_->owner->create_task(to_coroutine(std::forward<A>(op)));
  }
  template <class T>
  Task<T> child(const Task<T>& t) {
    check_same_loop(loop_, t.state());
    return t;
  }
  template <class T>
  Future<T> child(const Future<T>& f) {
    check_same_loop(loop_, f.state());
    return f;
  }

 private:
  LoopCore* loop_;
  std::vector<std::pair<const void*, FutureCore*>> seen_;
};

template <bool Outcomes, class... A>
auto gather_variadic(A&&... args) {
  LoopCore* loop = &get_event_loop().core();
  GatherBuilder b(loop);
  using Store = TupleStore<Outcomes, typename GatherArg<std::decay_t<A>>::child...>;
  // Braced initialisation: children are created in argument order.
  Store store{{b.child(std::forward<A>(args))...}};
  return make_gather(loop, std::move(store), Outcomes);
}

template <bool Outcomes, class T>
auto gather_vector(std::vector<Coroutine<T>> coros) {
  LoopCore* loop = &get_event_loop().core();
  // All checked before any is started (a coroutine a task is awaiting
  // cannot become a task of its own).
  for (auto& c : coros) c.check_usable();
  for (auto& c : coros) {
    // Promote each frame to a task in place: the Coroutine keeps a
    // reference, so no second vector of handles is needed.
    auto h = c.handle();
    if (h.promise().is_task()) continue;
    h.promise().start(loop, h);  // its two references: the loop's and `c`
    loop->owner->launch_task(h.promise());
  }
  return make_gather(loop, VectorStore<Outcomes, Coroutine<T>>{std::move(coros)}, Outcomes);
}

template <bool Outcomes, class H>
auto gather_handles(std::vector<H> handles) {
  LoopCore* loop = &get_event_loop().core();
  for (auto& h : handles) check_same_loop(loop, h.state());
  return make_gather(loop, VectorStore<Outcomes, H>{std::move(handles)}, Outcomes);
}

}  // namespace detail

/// Runs the awaitables concurrently and gives their results in argument
/// order as a std::tuple (void results as std::monostate). Each argument is
/// a Coroutine (wrapped in a task now; the same lvalue twice gives one
/// task), an operation that converts to one (`q.get()`), a Task or a
/// Future. The first exception, in completion order,
/// propagates; the other awaitables are not cancelled and keep running. A
/// child cancelled on its own makes gather raise CancelledError.
/// Cancelling the returned future (or the task awaiting it) cancels every
/// child. Returns a Future: await it, or keep it to cancel() it. Outside a
/// running loop the children are tasks of get_event_loop(), started when
/// it runs (`loop.run_until_complete(gather(a(), b()))`).
template <detail::GatherAwaitable... A>
auto gather(A&&... args) {
  return detail::gather_variadic<false>(std::forward<A>(args)...);
}

/// gather(return_exceptions, ...): exceptions (CancelledError for a
/// cancelled child) are returned in place as Outcome<T>; cancelling the
/// gather still raises CancelledError.
template <detail::GatherAwaitable... A>
auto gather(ReturnExceptions, A&&... args) {
  return detail::gather_variadic<true>(std::forward<A>(args)...);
}

/// gather over a vector of coroutines: results as a std::vector, in order.
template <class T>
auto gather(std::vector<Coroutine<T>> coros) {
  return detail::gather_vector<false>(std::move(coros));
}
template <class T>
auto gather(ReturnExceptions, std::vector<Coroutine<T>> coros) {
  return detail::gather_vector<true>(std::move(coros));
}
/// gather over a vector of tasks or futures.
template <class H>
  requires(detail::GatherAwaitable<H> && requires(const H& h) { h.state(); })
auto gather(std::vector<H> handles) {
  return detail::gather_handles<false>(std::move(handles));
}
template <class H>
  requires(detail::GatherAwaitable<H> && requires(const H& h) { h.state(); })
auto gather(ReturnExceptions, std::vector<H> handles) {
  return detail::gather_handles<true>(std::move(handles));
}

}  // namespace asyncio

#endif  // ASYNCIO_GATHER_HPP
