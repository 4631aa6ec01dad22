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

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_UV_LOOP_HPP
