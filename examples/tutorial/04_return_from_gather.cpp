// The values of several coroutines run concurrently, with gather.
//
//   async def nested():
//       return "hello from coroutine"
//
//   async def main():
//       results = await asyncio.gather(nested(), nested(), nested())
//       print(results)
//
//   asyncio.run(main())
#include <asyncio/asyncio.hpp>

#include <iostream>
#include <string>
#include <tuple>

asyncio::Coroutine<std::string> nested() { co_return "hello from coroutine"; }

asyncio::Coroutine<> amain() {
  auto results = co_await asyncio::gather(nested(), nested(), nested());
  // print(results): Python's list repr.
  std::cout << "[";
  std::apply([](const auto&... s) {
    const char* sep = "";
    ((std::cout << sep << "'" << s << "'", sep = ", "), ...);
  }, results);
  std::cout << "]\n";
}

int main() { return asyncio::run_main(amain()); }
