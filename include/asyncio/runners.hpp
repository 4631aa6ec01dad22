// asyncio-cpp: SPDX-License-Identifier: MIT
// run() and Runner: own a loop for the length of a program. ≙ Lib/asyncio/runners.py
#ifndef ASYNCIO_RUNNERS_HPP
#define ASYNCIO_RUNNERS_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/tasks.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace asyncio {

/// asyncio.run(): declared here for Runner's friendship, defined below.
template <class T>
T run(Coroutine<T> main, LoopOptions options = {});

/// A loop for several top-level run() calls (≙ asyncio.Runner). The loop is
/// created lazily; close() (also run by the destructor) cancels the tasks
/// left over, waits for them, reports any that failed ("unhandled
/// exception during asyncio.run() shutdown"), and closes the loop.
class Runner {
 public:
  Runner() = default;
  explicit Runner(LoopOptions options) : options_(options) {}
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  ~Runner();

  /// Runs `coro` as a task until it completes; gives its value or rethrows
  /// its exception. RuntimeError("Runner.run() cannot be called from a
  /// running event loop") inside a loop; RuntimeError("Runner is closed")
  /// after close().
  ///
  /// In the main thread, while SIGINT has its default disposition, the
  /// first Ctrl-C cancels the main task: if it then ends cancelled and
  /// uncancel() brings its count to 0, run() throws KeyboardInterrupt
  /// (else the CancelledError). A second Ctrl-C throws KeyboardInterrupt
  /// out of the loop at once.
  ///
  /// The task runs in the runner's context, a copy of the caller's made
  /// with the loop, so what one run() sets the next one sees
  /// (test_run_keeps_context); or in `context` (≙ `context=`).
  template <class T>
  T run(Coroutine<T> coro) {
    EventLoop& loop = prepare_run();
    return run_in(loop, std::move(coro), &*context_);
  }
  template <class T>
  T run(Coroutine<T> coro, const Context& context) {
    return run_in(prepare_run(), std::move(coro), &context);
  }
  /// Shuts down as described above. Idempotent.
  void close();
  /// The loop, created on first use. RuntimeError("Runner is closed").
  EventLoop& get_loop();

 private:
  /// `context` null: a copy of the caller's context (asyncio::run(), whose
  /// runner nobody else uses: the same, minus a Context object that every
  /// task the program creates would have to look into).
  template <class T>
  T run_in(EventLoop& loop, Coroutine<T>&& coro, const Context* context) {
    std::string name;
    Task<T> task = loop.start_task(std::move(coro), name, context);
    run_task(task);
    if constexpr (std::is_void_v<T>)
      task.result();
    else
      return std::move(task.result());
  }
  EventLoop& prepare_run();
  /// Runs the loop until `main` is done, with the SIGINT handling above.
  void run_task(const TaskRef& main);
  enum class State { created, initialized, closed };
  State state_ = State::created;
  LoopOptions options_;
  std::unique_ptr<EventLoop> loop_;
  std::optional<Context> context_;  ///< made with the loop (≙ Runner._context)
  template <class T>
  friend T run(Coroutine<T> main, LoopOptions options);
};

[[noreturn]] void throw_run_nested();
bool loop_running_in_this_thread() noexcept;

/// Runs `main` on a new loop and returns its value or rethrows its
/// exception (≙ asyncio.run). Leftover tasks are cancelled and awaited
/// before the loop is closed. RuntimeError("asyncio.run() cannot be called
/// from a running event loop") when a loop already runs in this thread.
/// `options` make the loop: `run(main(), {.debug = true})` ≙
/// `asyncio.run(main(), debug=True)`.
template <class T>
T run(Coroutine<T> main, LoopOptions options) {
  if (loop_running_in_this_thread()) throw_run_nested();
  Runner runner(options);
  if constexpr (std::is_void_v<T>) {
    runner.run_in(runner.prepare_run(), std::move(main), nullptr);
    runner.close();
  } else {
    T value = runner.run_in(runner.prepare_run(), std::move(main), nullptr);
    runner.close();
    return value;
  }
}

namespace detail {
/// run_main()'s ending: flushes stdout and stderr, prints what Python
/// would for `error` (null: none), and gives the exit status.
int main_exit_status(const std::exception_ptr& error, int status) noexcept;
}  // namespace detail

/// The top of `main`, ending as `python prog.py` does on `asyncio.run(main())`:
/// `int main() { return asyncio::run_main(amain()); }`. Runs `main` with
/// run() and gives the process's exit status, having flushed stdout and
/// stderr in every case:
/// - `main` returned: 0, or its value when it is a Coroutine<int>;
/// - KeyboardInterrupt (Ctrl-C: run() cancels the main task first):
///   `Traceback (most recent call last):` and `KeyboardInterrupt` on
///   stderr, 130 (Python ends by SIGINT itself; the shell shows 130 both ways);
/// - SystemExit: its code() (its message on stderr, if it has one);
/// - anything else: the traceback header and Python's last traceback line
///   (format_exception_only(): `ValueError: bad value`), 1.
/// Never throws.
template <class T>
int run_main(Coroutine<T> main) noexcept {
  int status = 0;
  std::exception_ptr error;
  try {
    if constexpr (std::is_same_v<T, int>)
      status = run(std::move(main));
    else
      run(std::move(main));
  } catch (...) {
    error = std::current_exception();
  }
  return detail::main_exit_status(error, status);
}

}  // namespace asyncio

#endif  // ASYNCIO_RUNNERS_HPP
