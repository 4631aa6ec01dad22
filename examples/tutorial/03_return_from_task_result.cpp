// The value of a task, by task.result() once it is done.
//
//   async def nested():
//       return "hello from coroutine"
//
//   async def main():
//       task = asyncio.create_task(nested())
//       await task
//       print(task.result())
//
//   asyncio.run(main())
#include <asyncio/asyncio.hpp>

#include <iostream>
#include <string>

asyncio::Coroutine<std::string> nested() { co_return "hello from coroutine"; }

asyncio::Coroutine<> amain() {
  auto task = asyncio::create_task(nested());
  co_await task;
  std::cout << task.result() << "\n";
}

int main() { return asyncio::run_main(amain()); }
