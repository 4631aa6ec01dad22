// expect: (no return statement|does not return a value)
// Issue 16, case 3: a task_group body declared `-> Coroutine<>` that never
// awaits is not a coroutine at all, but a function that returns nothing
// (a crash). Including the library makes that diagnostic an error; the
// correct spelling is a plain body: `[&](TaskGroup& tg) { tg.create_task(a()); }`.
#include <asyncio/asyncio.hpp>

asyncio::Coroutine<> a() { co_return; }

asyncio::Coroutine<> spawn_only() {
  co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coroutine<> { tg.create_task(a()); });
}
