// expect: GCC 12 destroys a lambda written inside a co_await expression twice
// compilers: gcc12
// async_for(gen, body) is awaited at once, so a body capturing by value
// something with a destructor, written inside the co_await, would be
// destroyed twice by GCC 12 (design-notes.md, Compilers). Refused there;
// correct under clang.
#include <asyncio/asyncio.hpp>

#include <string>

asyncio::Coroutine<> run(asyncio::AsyncGenerator<int>& gen, std::string prefix) {
  co_await asyncio::async_for(gen, [prefix](int v) { (void)(prefix.size() + static_cast<std::size_t>(v)); });
}
