// asyncio-cpp: SPDX-License-Identifier: MIT
// The exception types of asyncio. ≙ Lib/asyncio/exceptions.py
#ifndef ASYNCIO_EXCEPTIONS_HPP
#define ASYNCIO_EXCEPTIONS_HPP

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace asyncio {

/// Root of the exceptions that `catch (const std::exception&)` must not catch
/// (Python's BaseException minus Exception). CancelledError, KeyboardInterrupt
/// and SystemExit derive from it, so an ordinary "catch every error" handler
/// around a `co_await` never swallows a cancellation.
class BaseException {
 public:
  BaseException() = default;
  explicit BaseException(std::string msg) : msg_(std::move(msg)) {}
  virtual ~BaseException() = default;
  /// The message (Python's `str(exc)`); empty when none was given.
  virtual const char* what() const noexcept { return msg_.c_str(); }

 private:
  std::string msg_;
};

/// The operation was cancelled. `what()` is the message given to `cancel(msg)`.
class CancelledError : public BaseException {
 public:
  using BaseException::BaseException;
};

/// Python's KeyboardInterrupt: a fatal exception. A task step that raises it
/// records it and also re-raises it out of the loop's `run_*` call (spec S10).
class KeyboardInterrupt : public BaseException {
 public:
  using BaseException::BaseException;
};

/// Python's SystemExit (≙ sys.exit()): fatal like KeyboardInterrupt.
/// run_main() turns it into the process's exit status: SystemExit() is 0,
/// SystemExit(n) is n, SystemExit("message") prints the message on stderr
/// and is 1, as Python does.
class SystemExit : public BaseException {
 public:
  SystemExit() = default;
  explicit SystemExit(int code) : BaseException(std::to_string(code)), code_(code) {}
  explicit SystemExit(std::string message) : BaseException(std::move(message)), code_(1), has_message_(true) {}
  /// The exit status this exception asks for.
  int code() const noexcept { return code_; }
  /// True when made with a message (printed by run_main()).
  bool has_message() const noexcept { return has_message_; }

 private:
  int code_ = 0;
  bool has_message_ = false;
};

/// The operation is not allowed in the current state (e.g. `result()` of a
/// pending future).
class InvalidStateError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Python's builtin RuntimeError.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The operation exceeded its deadline (Python's builtin TimeoutError).
class TimeoutError : public std::runtime_error {
 public:
  TimeoutError() : std::runtime_error("") {}
  using std::runtime_error::runtime_error;
};

/// EOF reached before the expected number of bytes (StreamReader).
class IncompleteReadError : public std::runtime_error {
 public:
  IncompleteReadError(std::string partial, std::optional<std::size_t> expected);
  std::string partial;                  ///< the bytes read before EOF
  std::optional<std::size_t> expected;  ///< empty means "undefined"
};

/// The buffer limit was reached while looking for a separator.
class LimitOverrunError : public std::runtime_error {
 public:
  LimitOverrunError(const std::string& message, std::size_t consumed)
      : std::runtime_error(message), consumed(consumed) {}
  std::size_t consumed;  ///< bytes to consume to get past the overrun
};

/// `get_nowait()` on an empty queue.
class QueueEmpty : public std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("") {}
};

/// `put_nowait()` on a full queue.
class QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("") {}
};

/// A put/get on a queue that was shut down (3.13).
class QueueShutDown : public std::runtime_error {
 public:
  QueueShutDown() : std::runtime_error("") {}
};

/// A Barrier was aborted or reset while waited on. A RuntimeError, as in Python.
class BrokenBarrierError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// Several exceptions raised together (TaskGroup). Python distinguishes
/// ExceptionGroup (only Exceptions inside) from BaseExceptionGroup; here one
/// type carries both cases and `exceptions()` holds the members in order.
class ExceptionGroup : public std::runtime_error {
 public:
  ExceptionGroup(const std::string& message, std::vector<std::exception_ptr> excs)
      : std::runtime_error(message), excs_(std::move(excs)) {}
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return excs_; }

 private:
  std::vector<std::exception_ptr> excs_;
};

/// A readable one-line description of any exception: `Type('message')`,
/// the way Python's repr() shows it. Used by the default exception handler.
std::string describe(const std::exception_ptr& e);

/// What Python prints as the last line of a traceback for `e` (≙
/// traceback.format_exception_only): `ValueError: bad value`,
/// `KeyboardInterrupt`, `ConnectionRefusedError: [Errno 111] ...`. C++
/// exceptions get the Python name of the built-in they stand for
/// (std::invalid_argument is ValueError, std::system_error the OSError
/// subclass of its errno); other types their C++ name. An ExceptionGroup
/// is followed by its members, indented. Ends with a newline.
std::string format_exception_only(const std::exception_ptr& e);

}  // namespace asyncio

#endif  // ASYNCIO_EXCEPTIONS_HPP
