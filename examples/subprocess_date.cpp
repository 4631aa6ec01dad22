// asyncio-cpp: SPDX-License-Identifier: MIT
// CPython's example "loop.subprocess_exec() and SubprocessProtocol": a
// protocol collects what `date` writes to its stdout and sets a future
// once the pipe is closed and the process has exited (in either order).
// The test example.subprocess_date compares its output with
// subprocess_date.py's (both print the epoch, not now()).
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

class DateProtocol : public asyncio::SubprocessProtocol {
 public:
  explicit DateProtocol(asyncio::Future<bool> exit_future) : exit_future_(std::move(exit_future)) {}

  void pipe_connection_lost(int, std::exception_ptr) override {
    pipe_closed_ = true;
    check_for_exit();
  }
  void pipe_data_received(int, std::string_view data) override { output += data; }
  void process_exited() override {
    exited_ = true;
    // process_exited() method can be called before
    // pipe_connection_lost() method: wait until both methods are
    // called.
    check_for_exit();
  }

  std::string output;

 private:
  void check_for_exit() {
    if (pipe_closed_ && exited_) exit_future_.set_result(true);
  }

  asyncio::Future<bool> exit_future_;
  bool pipe_closed_ = false;
  bool exited_ = false;
};

asyncio::Coroutine<std::string> get_date() {
  // Get a reference to the event loop as we plan to use
  // low-level APIs.
  asyncio::EventLoop& loop = asyncio::get_running_loop();

  asyncio::Future<bool> exit_future = loop.create_future<bool>();

  // Create the subprocess controlled by DateProtocol;
  // redirect the standard output into a pipe.
  auto make_protocol = [exit_future] { return std::make_shared<DateProtocol>(exit_future); };
  const asyncio::SubprocessOptions only_stdout{.stdout_ = asyncio::PIPE};
  auto [transport, protocol] = co_await asyncio::subprocess_exec(loop, make_protocol, "date", "-u", "-d", "@0",
                                                                 "+%Y-%m-%d %H:%M:%S", only_stdout);

  // Wait for the subprocess exit using the process_exited()
  // method of the protocol.
  co_await exit_future;

  // Close the stdout pipe.
  transport->close();

  // Read the output which was collected by the
  // pipe_data_received() method of the protocol.
  std::string data = protocol->output;
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) data.pop_back();
  co_return data;
}

asyncio::Coroutine<> amain() {
  std::string date = co_await get_date();
  std::printf("Current date: %s\n", date.c_str());
}

int main() { return asyncio::run_main(amain()); }
