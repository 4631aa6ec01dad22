// Consumer smoke test: builds against an installed (or add_subdirectory'd)
// asyncio. It also runs built with AddressSanitizer against the plain
// library (run_install_test.cmake): coroutine frames and futures made by
// this program's inline code are freed by the library and the reverse
// (tasks, gather, an Event, a Lock, timers, wait_for, a queue); both sides
// must agree on every block (before, ASan stopped it with
// new-delete-type-mismatch).
#include <asyncio/asyncio.hpp>

#include <iostream>
#include <string>
#include <vector>

asyncio::Coroutine<> waiter(asyncio::Event& ready, asyncio::Lock& lock, int& n) {
  co_await ready.wait();
  auto held = co_await lock.guard();
  co_await asyncio::sleep(0.001);
  ++n;
}

asyncio::Coroutine<int> f() {
  asyncio::Event ready;
  asyncio::Lock lock;
  int n = 0;
  std::vector<asyncio::Coroutine<>> waiters;
  for (int i = 0; i < 10; ++i) waiters.push_back(waiter(ready, lock, n));
  auto all = asyncio::gather(std::move(waiters));
  co_await asyncio::sleep(0.001);
  ready.set();
  co_await all;  // n == 10

  asyncio::Future<> fut = asyncio::get_running_loop().create_future();
  asyncio::get_running_loop().call_soon([fut]() mutable { fut.set_result(); });
  co_await asyncio::wait_for(fut, 1.0);
  try {
    co_await asyncio::wait_for(asyncio::sleep(1.0), 0.001);
  } catch (const asyncio::TimeoutError&) {
    n += 30;
  }

  asyncio::Queue<std::string> q;
  asyncio::Task<std::string> got = asyncio::create_task(q.get());
  co_await q.put("xy");
  const std::string s = co_await got;
  co_return n + static_cast<int>(s.size()) + 1;  // 10 + 30 + 2 + 1
}

int main() {
  int v = asyncio::run(f());
  std::cout << v << "\n";
  return v == 43 ? 0 : 1;
}
