// The value of a coroutine, by awaiting it.
//
//   async def nested():
//       return "hello from coroutine"
//
//   async def main():
//       print(await nested())
//
//   asyncio.run(main())
#include <asyncio/asyncio.hpp>

#include <iostream>
#include <string>

asyncio::Coroutine<std::string> nested() { co_return "hello from coroutine"; }

asyncio::Coroutine<> amain() { std::cout << co_await nested() << "\n"; }

int main() { return asyncio::run_main(amain()); }
