// asyncio-cpp: SPDX-License-Identifier: MIT
#include <asyncio/detail/flow_control.hpp>
#include <asyncio/events.hpp>

#include "uv_error.hpp"

namespace asyncio::detail {

Coroutine<> FlowControl::drain() {
  if (lost_) std::rethrow_exception(connection_lost_error());
  if (!paused_) co_return;
  get_running_loop();  // RuntimeError outside a loop
  WaitEntry wait(waiters_, tls.running);
  co_await wait;
  // Woken by lost(exc): CPython's waiter.set_exception(exc).
  if (lost_ && exc_) std::rethrow_exception(exc_);
}

}  // namespace asyncio::detail
