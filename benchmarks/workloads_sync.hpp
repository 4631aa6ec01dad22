// asyncio-cpp: SPDX-License-Identifier: MIT
// The bench kit's synchronisation workloads (../shared/bench/README.md):
// queue_pingpong exactly as the peers do it, and lock_handoff, ours.
#ifndef ASYNCIO_BENCHMARKS_WORKLOADS_SYNC_HPP
#define ASYNCIO_BENCHMARKS_WORKLOADS_SYNC_HPP

#include <asyncio/gather.hpp>
#include <asyncio/locks.hpp>
#include <asyncio/queues.hpp>
#include <asyncio/sleep.hpp>

// 5. queue_pingpong: a producer put()s 0..N-1 into Queue(maxsize=1), a
// consumer get()s N items (a channel of capacity 1). op = one item handed
// over; check = N(N-1)/2.
inline asyncio::Coroutine<long long> queue_producer(asyncio::Queue<int>& q, long n) {
  for (long i = 0; i < n; ++i) co_await q.put(static_cast<int>(i));
  co_return 0;
}

inline asyncio::Coroutine<long long> queue_consumer(asyncio::Queue<int>& q, long n) {
  long long s = 0;
  for (long i = 0; i < n; ++i) s += co_await q.get();
  co_return s;
}

inline asyncio::Coroutine<long long> queue_pingpong(long n) {
  asyncio::Queue<int> q(1);
  auto [a, b] = co_await asyncio::gather(queue_producer(q, n), queue_consumer(q, n));
  co_return a + b;
}

// 6. lock_handoff: two tasks pass one Lock back and forth, N acquisitions in
// all. Each task releases and at once acquires again, which queues it
// behind the other (Lock is fair), so every acquisition after the first is
// a hand-over from the other task: one wake-up and one suspension.
// op = one acquisition. check = N(N-1)/2: the sum of the acquisitions'
// sequence numbers, each counted only if the lock came from the other task
// (a run that failed to alternate gives less).
struct LockHandoff {
  asyncio::Lock lock;
  long seq = 0;        ///< acquisitions so far
  int last_owner = -1;  ///< which task acquired last
  long long check = 0;
};

inline asyncio::Coroutine<> lock_passer(LockHandoff& h, int me, long n) {
  for (long i = 0; i < n; ++i) {
    co_await h.lock.acquire();
    if (h.last_owner != me) h.check += h.seq;
    h.last_owner = me;
    // The first holder keeps the lock over one pass of the loop, so that
    // the other task is queued when the hand-overs start.
    if (h.seq++ == 0) co_await asyncio::sleep(0);
    h.lock.release();
  }
}

inline asyncio::Coroutine<long long> lock_handoff(long n) {
  LockHandoff h;
  co_await asyncio::gather(lock_passer(h, 0, n - n / 2), lock_passer(h, 1, n / 2));
  co_return h.check;
}

#endif  // ASYNCIO_BENCHMARKS_WORKLOADS_SYNC_HPP
