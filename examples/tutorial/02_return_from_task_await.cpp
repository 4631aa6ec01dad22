// The value of a task, by awaiting the task.
//
//   async def nested():
//       return "hello from coroutine"
//
//   async def main():
//       task = asyncio.create_task(nested())
//       print(await task)
//
//   asyncio.run(main())
#include <asyncio/asyncio.hpp>

#include <iostream>
#include <string>

asyncio::Coroutine<std::string> nested() { co_return "hello from coroutine"; }

asyncio::Coroutine<> amain() {
  auto task = asyncio::create_task(nested());
  std::cout << co_await task << "\n";
}

int main() { return asyncio::run_main(amain()); }
