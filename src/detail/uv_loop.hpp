// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the libuv loop behind an EventLoop, for the I/O layers in src/.
#ifndef ASYNCIO_SRC_DETAIL_UV_LOOP_HPP
#define ASYNCIO_SRC_DETAIL_UV_LOOP_HPP

#include <asyncio/events.hpp>

#include <uv.h>

namespace asyncio::detail {

/// The libuv loop that `loop` polls. Rules for code that uses it: a libuv
/// callback never runs user code and never lets an exception out; it
/// records what happened and schedules the work on the ready queue
/// (LoopCore::push), where user code runs during a loop pass.
uv_loop_t* uv_loop_of(EventLoop& loop) noexcept;

/// What owns a libuv handle made by the I/O layers: `handle->data` points
/// to it, so that EventLoop::close() can close what users left open.
class UvHandleOwner {
 public:
  /// The loop is closing and the handle is still open: close it (uv_close
  /// with the owner's own close callback, which frees what it must).
  virtual void close_for_loop_shutdown() noexcept = 0;

 protected:
  ~UvHandleOwner() = default;
};

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_UV_LOOP_HPP
