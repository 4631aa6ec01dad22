// expect: asend
// An AsyncGenerator<T> (no send type) cannot be sent a value: asend() is
// only there for AsyncGenerator<T, S>.
#include <asyncio/asyncio.hpp>

asyncio::Coroutine<> run(asyncio::AsyncGenerator<int>& gen) { co_await gen.asend(5); }
