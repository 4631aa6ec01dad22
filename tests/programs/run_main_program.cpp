// A program ending through asyncio::run_main(), for test_idioms: what it
// prints before the end must all be there (stdout redirected to a file is
// fully buffered), and its exit status and stderr must be Python's.
//
//   run_main_program ok | value | sigint | system_exit | system_exit_message | value_error | cancelled
#include <asyncio/asyncio.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>

namespace {

asyncio::Coroutine<> serve_until_interrupted() {
  std::printf("serving\n");  // buffered: must survive the Ctrl-C
  std::cout << "still buffered\n";
  ::kill(::getpid(), SIGINT);  // ≙ Ctrl-C in the terminal
  co_await asyncio::sleep(3600.0);
}

asyncio::Coroutine<> raise_after_output(std::string mode) {
  std::printf("before %s\n", mode.c_str());
  co_await asyncio::sleep(0);
  if (mode == "system_exit") throw asyncio::SystemExit(3);
  if (mode == "system_exit_message") throw asyncio::SystemExit(std::string("bye"));
  if (mode == "value_error") throw std::invalid_argument("bad value");
  if (mode == "cancelled") asyncio::current_task().cancel();
  co_await asyncio::sleep(0);
}

asyncio::Coroutine<int> value() {
  std::printf("returning 5\n");
  co_return 5;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "ok";
  if (mode == "sigint") return asyncio::run_main(serve_until_interrupted());
  if (mode == "value") return asyncio::run_main(value());
  return asyncio::run_main(raise_after_output(mode));
}
