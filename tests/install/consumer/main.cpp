// Consumer smoke test: builds against an installed (or add_subdirectory'd) asyncio.
#include <asyncio/asyncio.hpp>

#include <iostream>

asyncio::Coroutine<int> f() { co_return 42; }

int main() {
    int v = asyncio::run(f());
    std::cout << v << "\n";
    return v == 42 ? 0 : 1;
}
