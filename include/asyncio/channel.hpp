// asyncio-cpp: SPDX-License-Identifier: MIT
// Channel<T>: a FIFO queue shared by loops in different threads, whose
// put() and get() are awaited on each side's own loop. asyncio.Queue's
// rules (Lib/asyncio/queues.py, 3.13 shutdown) with a mutex inside; where
// Python programs use multiprocessing.Queue between processes.
#ifndef ASYNCIO_CHANNEL_HPP
#define ASYNCIO_CHANNEL_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/threads.hpp>

#include <cstddef>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <utility>

namespace asyncio {

namespace detail {

/// What wakes a task waiting on a channel: completes its future on its own
/// loop (posted through that loop's mailbox; see CallResult).
class ChannelWake final : public CallResult<void> {
 public:
  using CallResult<void>::CallResult;
  void run() noexcept override {}
  void set() noexcept { value_.emplace(); }
};

/// One waiting task.
struct ChannelWaiter {
  std::shared_ptr<ChannelWake> wake;
  std::shared_ptr<ThreadsafeQueue> port;  // its loop's mailbox
  std::list<std::shared_ptr<ChannelWaiter>>::iterator at;
  bool woken = false;
};

/// The tasks waiting on one side of a channel, first come first woken.
/// Every call is made with the channel's mutex held.
class ChannelWaiters {
 public:
  /// Running loop: a new waiter completing `fut` when woken.
  std::shared_ptr<ChannelWaiter> add(Future<>& fut);
  /// Wakes the first waiter, if any (it takes itself off the list).
  void wake_one() noexcept;
  void wake_all() noexcept;
  /// The waiter's own loop, after its await failed (cancelled): off the
  /// list. True if it had been woken: the caller passes the wake-up on, so
  /// none is lost (≙ the `_wakeup_next` of queues.py in its except clause).
  bool leave(ChannelWaiter& w) noexcept;

 private:
  std::list<std::shared_ptr<ChannelWaiter>> list_;
};

}  // namespace detail

/// A FIFO queue between threads and their loops (≙ asyncio.Queue, made
/// thread-safe): put() and get() are awaited on the caller's running loop,
/// whichever it is; put_nowait() and get_nowait() work from any thread,
/// with or without a loop. No thread is parked: a waiting task is woken
/// through its loop's thread-safe queue. A task cancelled in get() leaves
/// every item in the channel (a wake-up it had is passed on to the next
/// getter), and a cancelled put() puts nothing. The channel must outlive
/// every operation on it. maxsize <= 0 means unbounded.
template <class T>
class Channel {
 public:
  explicit Channel(std::ptrdiff_t maxsize = 0) : maxsize_(maxsize) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  std::ptrdiff_t maxsize() const noexcept { return maxsize_; }
  std::size_t qsize() const {
    std::lock_guard lock(m_);
    return items_.size();
  }
  bool empty() const { return qsize() == 0; }
  bool full() const {
    std::lock_guard lock(m_);
    return full_locked();
  }

  /// Puts `item`, waiting on the running loop while the channel is full.
  /// QueueShutDown once shutdown() was called (also while waiting).
  Coroutine<> put(T item) {
    for (;;) {
      Future<> woken;
      std::shared_ptr<detail::ChannelWaiter> w;
      {
        std::lock_guard lock(m_);
        if (shutdown_) throw QueueShutDown();
        if (!full_locked()) {
          items_.push_back(std::move(item));
          getters_.wake_one();
          co_return;
        }
        woken = get_running_loop().create_future<>();
        w = putters_.add(woken);
      }
      co_await wait(woken, *w, putters_, [this] { return !full_locked(); });
    }
  }
  /// Takes the first item, waiting on the running loop while the channel
  /// is empty. QueueShutDown once it is shut down and empty.
  Coroutine<T> get() {
    for (;;) {
      Future<> woken;
      std::shared_ptr<detail::ChannelWaiter> w;
      {
        std::lock_guard lock(m_);
        if (!items_.empty()) co_return take_locked();
        if (shutdown_) throw QueueShutDown();
        woken = get_running_loop().create_future<>();
        w = getters_.add(woken);
      }
      co_await wait(woken, *w, getters_, [this] { return !items_.empty(); });
    }
  }
  /// Any thread. QueueShutDown after shutdown(); QueueFull when full.
  void put_nowait(T item) {
    std::lock_guard lock(m_);
    if (shutdown_) throw QueueShutDown();
    if (full_locked()) throw QueueFull();
    items_.push_back(std::move(item));
    getters_.wake_one();
  }
  /// Any thread. QueueShutDown when shut down and empty; QueueEmpty.
  T get_nowait() {
    std::lock_guard lock(m_);
    if (items_.empty()) {
      if (shutdown_) throw QueueShutDown();
      throw QueueEmpty();
    }
    return take_locked();
  }
  /// Any thread (≙ Queue.shutdown, 3.13): put() and put_nowait() raise
  /// QueueShutDown from now on, and so do get() and get_nowait() once the
  /// channel is empty; with `immediate` the items are dropped at once.
  /// Every waiting task is woken (to raise). Idempotent.
  void shutdown(bool immediate = false) {
    std::deque<T> dropped;  // destroyed outside the lock
    std::lock_guard lock(m_);
    shutdown_ = true;
    if (immediate) dropped.swap(items_);
    getters_.wake_all();
    putters_.wake_all();
  }

 private:
  bool full_locked() const noexcept {
    return maxsize_ > 0 && items_.size() >= static_cast<std::size_t>(maxsize_);
  }
  T take_locked() {
    T v = std::move(items_.front());
    items_.pop_front();
    putters_.wake_one();
    return v;
  }
  /// Awaits `woken`; if that fails (cancelled), leaves the waiters and
  /// passes a wake-up it got on while `ready()` says the next may proceed.
  template <class Ready>
  Coroutine<> wait(Future<>& woken, detail::ChannelWaiter& w, detail::ChannelWaiters& side, Ready ready) {
    try {
      co_await woken;
    } catch (...) {
      std::lock_guard lock(m_);
      if (side.leave(w) && ready()) side.wake_one();
      throw;
    }
  }

  mutable std::mutex m_;  // guards what follows
  std::deque<T> items_;
  detail::ChannelWaiters getters_, putters_;
  bool shutdown_ = false;
  const std::ptrdiff_t maxsize_;
};

/// Channel<T> under the name the issue gives it: a thread-safe asyncio.Queue.
template <class T>
using ThreadsafeQueue = Channel<T>;

}  // namespace asyncio

#endif  // ASYNCIO_CHANNEL_HPP
