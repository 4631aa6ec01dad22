// asyncio-cpp: SPDX-License-Identifier: MIT
// The waiters of a Channel (include/asyncio/channel.hpp): a waiting task's
// future lives on its own loop, so a wake-up from another thread is a
// finish() posted there (threads.hpp, CallResult), never a touch of the
// future from this thread.
#include <asyncio/channel.hpp>

namespace asyncio::detail {

std::shared_ptr<ChannelWaiter> ChannelWaiters::add(Future<>& fut) {
  auto w = std::make_shared<ChannelWaiter>();
  w->wake = std::make_shared<ChannelWake>(fut.state());
  w->port = expect_reply(get_running_loop(), w->wake);
  w->at = list_.insert(list_.end(), w);
  return w;
}

void ChannelWaiters::wake_one() noexcept {
  while (!list_.empty()) {
    std::shared_ptr<ChannelWaiter> w = std::move(list_.front());
    list_.pop_front();
    w->woken = true;
    w->wake->set();
    // Refused once its loop is closed (the waiting task is gone with it,
    // its future abandoned there): the wake-up goes to the next waiter.
    if (post_finish(w->port, w->wake)) return;
  }
}

void ChannelWaiters::wake_all() noexcept {
  while (!list_.empty()) wake_one();
}

bool ChannelWaiters::leave(ChannelWaiter& w) noexcept {
  if (w.woken) return true;
  list_.erase(w.at);
  // Never to be woken: finish (a no-op on the cancelled future) so that
  // its loop stops tracking it.
  post_finish(w.port, w.wake);
  return false;
}

}  // namespace asyncio::detail
