// expect: GCC 12 destroys a lambda written inside a co_await expression twice
// compilers: gcc12
// Issue 16, case 2: a by-value capturing body written inside the co_await
// (`async_with(*cm, [fut, cm](Timeout&) -> Coroutine<> {...})`) corrupted the
// shared_ptr count under GCC 12. Refused there; correct under clang.
#include <asyncio/asyncio.hpp>

#include <memory>

asyncio::Coroutine<> run(std::shared_ptr<asyncio::Timeout> cm, asyncio::Future<> fut) {
  co_await asyncio::async_with(*cm, [fut, cm](asyncio::Timeout&) mutable -> asyncio::Coroutine<> {
    co_await asyncio::sleep(0);
    fut.set_result();
  });
}
