// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the one base of everything in src/ that owns a libuv handle.
// ≙ libuv's UV_HANDLE_FIELDS / uv__handle_init, the part every handle type
// shares (design-notes.md, "One transport layer").
#ifndef ASYNCIO_SRC_DETAIL_UV_HANDLE_HPP
#define ASYNCIO_SRC_DETAIL_UV_HANDLE_HPP

#include <asyncio/detail/loop_core.hpp>

#include <uv.h>

#include <memory>

namespace asyncio::detail {

/// The owner of one libuv handle: it holds the loop's core (counted, so an
/// owner may outlive its EventLoop), is the handle's `data`, is queued on
/// the ready queue at most once (post()), closes the handle once
/// (close_handle()) and is released once the handle is closed and the
/// owner is no longer queued, whichever comes last.
///
/// Rules for subclasses: a libuv callback records what happened and calls
/// post(); run() then does the work during a loop pass (design rule: no
/// user code in a libuv callback). EventLoop::close() calls
/// close_for_loop_shutdown() on every handle still open.
class UvHandle : public ReadyNode {
 public:
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  /// The owner of `h`, a handle bound by bind_handle().
  static UvHandle* of(const uv_handle_t* h) noexcept { return static_cast<UvHandle*>(h->data); }

  /// The loop is closing and will run nothing more: close the handle
  /// without calling user code. Overridden to drop what a protocol holds.
  virtual void close_for_loop_shutdown() noexcept { close_handle(); }

  LoopCore* core() const noexcept { return core_; }
  uv_handle_t* handle() const noexcept { return handle_; }
  /// uv_close() has been called (or the handle was never bound).
  bool handle_closing() const noexcept { return !handle_ || uv_is_closing(handle_); }
  /// The close callback has run: libuv no longer refers to the handle.
  bool handle_closed() const noexcept { return closed_; }
  bool queued() const noexcept { return queued_; }

  /// Closes the handle (once); the owner is released after the close
  /// callback, unless still queued.
  void close_handle() noexcept {
    if (handle_ && !uv_is_closing(handle_)) uv_close(handle_, &UvHandle::on_close);
  }

 protected:
  explicit UvHandle(LoopCore* core) noexcept : core_(core) { core_->incref(); }
  ~UvHandle() { core_->decref(); }

  /// After uv_xxx_init() succeeded on `h`, a member of the subclass.
  void bind_handle(uv_handle_t* h) noexcept {
    handle_ = h;
    h->data = this;
  }
  /// Queues run() once; nothing is queued on a closed loop (its close()
  /// closes the handle instead).
  void post() noexcept {
    if (queued_ || !core_->accepting) return;
    queued_ = true;
    core_->push(this);
  }
  /// The ready-queue entry; `discard`: the loop is closing, release only.
  virtual void run(bool discard) noexcept = 0;
  /// Nothing refers to the owner any more (handle closed, not queued):
  /// free it. Must be the last thing the owner does.
  virtual void release() noexcept = 0;
  void maybe_release() noexcept {
    if (closed_ && !queued_) release();
  }

 private:
  void run_ready(bool discard) noexcept final {
    queued_ = false;
    run(discard);
    maybe_release();
  }
  static void on_close(uv_handle_t* h) noexcept {
    UvHandle* owner = of(h);
    owner->closed_ = true;
    owner->maybe_release();
  }

  LoopCore* core_;
  uv_handle_t* handle_ = nullptr;
  bool queued_ = false;
  bool closed_ = false;
};

/// A UvHandle owned by std::shared_ptr: it holds itself (`self_`) until
/// released, so the handle outlives every user reference if it must.
class SharedUvHandle : public UvHandle {
 protected:
  using UvHandle::UvHandle;
  /// Called by the factory right after make_shared.
  void hold_self(std::shared_ptr<void> self) noexcept { self_ = std::move(self); }
  void release() noexcept override {
    std::shared_ptr<void> last = std::move(self_);  // may free this object
  }

 private:
  std::shared_ptr<void> self_;
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_UV_HANDLE_HPP
