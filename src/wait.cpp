// asyncio-cpp: SPDX-License-Identifier: MIT
// The untyped parts of wait() and wait_for(). ≙ _wait and _cancel_and_wait
// in Lib/asyncio/tasks.py
#include <asyncio/wait.hpp>

#include <string>

namespace asyncio::detail {

void check_wait_args(bool empty, ReturnWhen return_when) {
  if (empty) throw std::invalid_argument("Set of Tasks/Futures is empty.");
  switch (return_when) {
    case ReturnWhen::FIRST_COMPLETED:
    case ReturnWhen::FIRST_EXCEPTION:
    case ReturnWhen::ALL_COMPLETED:
      return;
  }
  throw std::invalid_argument("Invalid return_when value: " + std::to_string(static_cast<int>(return_when)));
}

namespace {

// The waiter of _wait(): a future that is also the done-callback of every
// future waited for (one registration each, each holding a reference), so
// the wait allocates one object whatever the number of futures. Counted:
// a callback added to a future already done is queued by the loop and
// cannot be taken back, and may run after the wait is over.
class WaitState final : public FutureState<void> {
 public:
  WaitState(LoopCore* loop, ReturnWhen return_when, std::size_t n) noexcept
      : FutureState<void>(loop), return_when_(return_when), counter_(n) {}

  TimerHandle timeout_handle;

 private:
  // ≙ _on_completion.
  void on_done(FutureCore& f) override {
    struct Release {
      WaitState* self;
      ~Release() { self->decref(); }
    } release{this};
    --counter_;
    bool wake = counter_ == 0 || return_when_ == ReturnWhen::FIRST_COMPLETED;
    if (!wake && return_when_ == ReturnWhen::FIRST_EXCEPTION && !f.cancelled()) {
      // CPython asks f.exception(), which marks it retrieved.
      f.mark_retrieved();
      wake = static_cast<bool>(f.stored_exception());
    }
    if (wake) {
      timeout_handle.cancel();
      if (!done()) set_value();
    }
  }
  void release_callback() noexcept override { decref(); }

  ReturnWhen return_when_;
  std::size_t counter_;
};

}  // namespace

Coroutine<> wait_cores(const std::vector<FutureCore*>& fs, std::optional<double> timeout, ReturnWhen return_when) {
  EventLoop& loop = get_running_loop();
  auto* state = new WaitState(&loop.core(), return_when, fs.size());
  Future<> waiter(state);  // adopts the first reference
  if (timeout) {
    // A plain pointer: the timer is cancelled below before `waiter` goes
    // (a counted one would be a cycle through timeout_handle).
    state->timeout_handle = loop.call_later(*timeout, [state] {
      if (!state->done()) state->set_value();
    });
  }
  for (FutureCore* f : fs) {
    state->incref();
    f->add_done(state);
  }
  // ≙ the `finally` of _wait, also run if this frame is destroyed.
  struct Cleanup {
    WaitState* state;
    const std::vector<FutureCore*>& fs;
    ~Cleanup() {
      state->timeout_handle.cancel();
      for (FutureCore* f : fs) f->remove_callback(state);
    }
  } cleanup{state, fs};
  co_await waiter;
}

Coroutine<> cancel_and_wait(FutureCore* fut) {
  if (fut->done()) co_return;
  Future<> waiter = get_running_loop().create_future();
  // ≙ functools.partial(_release_waiter, waiter), registered on `fut`.
  // It lives in this frame and is removed below unless it ran.
  struct Release final : ReadyNode {
    explicit Release(Future<> w) noexcept : waiter(std::move(w)) {}
    void on_done(FutureCore&) override {
      registered = false;
      if (!waiter.done()) waiter.set_result();
    }
    void release_callback() noexcept override { registered = false; }
    Future<> waiter;
    bool registered = true;
  } release{waiter};
  fut->add_done(&release);
  struct Remove {
    FutureCore* fut;
    Release& release;
    ~Remove() {
      if (release.registered) fut->remove_callback(&release);
    }
  } remove{fut, release};
  fut->cancel({});
  // Not `co_await fut`: the wait must stay cancellable by itself.
  co_await waiter;
}

}  // namespace asyncio::detail
