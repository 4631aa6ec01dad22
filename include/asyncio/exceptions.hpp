// asyncio-cpp: SPDX-License-Identifier: MIT
// The exception types of asyncio. ≙ Lib/asyncio/exceptions.py
#ifndef ASYNCIO_EXCEPTIONS_HPP
#define ASYNCIO_EXCEPTIONS_HPP

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
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

/// sendfile(2) cannot be used for this socket, file or transport
/// (≙ asyncio.SendfileNotAvailableError, a RuntimeError subclass);
/// sendfile() and sock_sendfile() raise it only with `fallback = false`.
class SendfileNotAvailableError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// Python's builtin LookupError: ContextVar::get() of a variable with no
/// value and no default. A std::out_of_range, what std::map::at() throws.
class LookupError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

/// Python's builtin KeyError (a LookupError): Context's operator[].
class KeyError : public LookupError {
 public:
  using LookupError::LookupError;
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

/// `e` holds an exception of type E (or derived from it).
template <class E>
bool holds_exception(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

/// Several exceptions raised together (TaskGroup). Python distinguishes
/// ExceptionGroup (only Exceptions inside) from BaseExceptionGroup; here one
/// type carries both cases and `exceptions()` holds the members in order.
class ExceptionGroup : public std::runtime_error {
 public:
  ExceptionGroup(const std::string& message, std::vector<std::exception_ptr> excs)
      : std::runtime_error(message), excs_(std::move(excs)) {}
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return excs_; }
  /// ≙ .message (what() is the same text).
  std::string message() const { return what(); }

  /// What a condition is asked of: each member, and each nested group
  /// before its members (≙ the callable given to split()).
  using Condition = std::function<bool(const std::exception_ptr&)>;
  struct Split;
  /// ≙ split(): the part of the group that matches, and the rest, each
  /// with this group's message and shape (nested groups kept, emptied ones
  /// dropped), empty if nothing is in it. A nested group that matches as a
  /// whole is kept as it is (the same exception_ptr).
  Split split(const Condition& condition) const;
  /// ≙ split(E): by type, a member or nested group matching if it is an E.
  /// E a base of ExceptionGroup (std::exception...): the whole group.
  template <class E>
  Split split() const;
  /// ≙ subgroup(): split()'s match alone.
  std::optional<ExceptionGroup> subgroup(const Condition& condition) const;
  template <class E>
  std::optional<ExceptionGroup> subgroup() const;

 private:
  std::vector<std::exception_ptr> excs_;
};

/// What split() gives: each part empty if nothing is in it.
struct ExceptionGroup::Split {
  std::optional<ExceptionGroup> match;
  std::optional<ExceptionGroup> rest;
};

template <class E>
ExceptionGroup::Split ExceptionGroup::split() const {
  if constexpr (std::is_base_of_v<E, ExceptionGroup>) {
    return {*this, std::nullopt};
  } else {
    if constexpr (std::is_polymorphic_v<E>)
      if (dynamic_cast<const E*>(this)) return {*this, std::nullopt};  // a group of a derived type
    return split(&holds_exception<E>);
  }
}

inline std::optional<ExceptionGroup> ExceptionGroup::subgroup(const Condition& condition) const {
  return split(condition).match;
}

template <class E>
std::optional<ExceptionGroup> ExceptionGroup::subgroup() const {
  return split<E>().match;
}

namespace detail {

/// One `except* E` clause: does an exception match, and the handler.
struct StarClause {
  bool (*matches)(const std::exception_ptr&) noexcept;
  void (*call)(void* handler, const ExceptionGroup& group);
  void* handler;
};
void except_star(const std::exception_ptr& e, const StarClause* clauses, std::size_t n);

}  // namespace detail

/// An `except* E` clause for except_star(): `f(const ExceptionGroup&)` runs
/// with the part of the exception that is E.
template <class E, class F>
struct Catching {
  static_assert(!std::is_base_of_v<ExceptionGroup, E>,
                "catching ExceptionGroup with except* is not allowed. Use except instead.");
  F f;
};
template <class E, class F>
Catching<E, std::decay_t<F>> catching(F&& f) {
  return {std::forward<F>(f)};
}

/// ≙ `try: ... except* E1 as eg: ... except* E2 as eg: ...`, on `e` (what a
/// `catch (...)` got, std::current_exception()):
///
///     catch (...) {
///       except_star(std::current_exception(),
///                   catching<ValueError>([&](const ExceptionGroup& eg) { ... }),
///                   catching<TypeError>([&](const ExceptionGroup& eg) { ... }));
///     }
///
/// The clauses are tried in order, each on what the earlier ones left: a
/// clause whose E matches part of the exception runs with that part as an
/// ExceptionGroup (with the group's message and shape; a lone exception
/// that matches comes wrapped, ExceptionGroup("", {e}); a group that is an
/// E as a whole comes as it is). Then, as CPython: what no clause matched
/// and what the handlers threw is thrown, or nothing. A handler re-raises
/// with `throw;` (the group it was given) or by throwing exceptions of the
/// original; they go back into the original's shape with what was not
/// matched. Exceptions the handlers throw anew come first, in an
/// ExceptionGroup("", {...}) with that rest, or alone if there is nothing
/// else. A lone exception that nothing matched is rethrown as it is. The
/// handlers are plain calls (a coroutine cannot co_await inside a catch
/// block): record what is to be awaited and await it after.
template <class... E, class... F>
void except_star(const std::exception_ptr& e, Catching<E, F>... clauses) {
  static_assert(sizeof...(E) > 0, "except_star() takes at least one catching<E>(handler) clause");
  const detail::StarClause table[] = {
      {&holds_exception<E>, [](void* f, const ExceptionGroup& g) { (*static_cast<F*>(f))(g); }, &clauses.f}...};
  detail::except_star(e, table, sizeof...(E));
}

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
