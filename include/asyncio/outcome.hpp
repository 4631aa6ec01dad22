// asyncio-cpp: SPDX-License-Identifier: MIT
// Outcome<T>: a value or an exception, as gather(return_exceptions) gives.
#ifndef ASYNCIO_OUTCOME_HPP
#define ASYNCIO_OUTCOME_HPP

#include <exception>
#include <optional>
#include <utility>
#include <variant>

namespace asyncio {

/// Tag for gather(return_exceptions, ...): exceptions become results.
struct ReturnExceptions {
  explicit constexpr ReturnExceptions() = default;
};
inline constexpr ReturnExceptions return_exceptions{};

/// The result of one awaitable under return_exceptions: either its value
/// or the exception it raised (a cancelled child gives a CancelledError).
template <class T>
class Outcome {
 public:
  Outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Outcome(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  /// The value; rethrows the stored exception if there is none.
  T& value() {
    if (!has_value()) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  const T& value() const {
    if (!has_value()) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  /// The exception, or null when there is a value.
  std::exception_ptr exception() const noexcept { return has_value() ? nullptr : std::get<1>(v_); }

 private:
  std::variant<T, std::exception_ptr> v_;
};

}  // namespace asyncio

#endif  // ASYNCIO_OUTCOME_HPP
