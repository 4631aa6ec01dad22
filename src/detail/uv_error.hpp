// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: libuv status codes as the exceptions CPython raises (OSError and
// its subclasses become std::system_error, DESIGN.md decision 8).
#ifndef ASYNCIO_SRC_DETAIL_UV_ERROR_HPP
#define ASYNCIO_SRC_DETAIL_UV_ERROR_HPP

#include <exception>
#include <string>
#include <string_view>
#include <system_error>

namespace asyncio {

/// Python's OSError: a std::system_error whose what() is exactly str(exc),
/// "[Errno 111] Connect call failed ('127.0.0.1', 1)" or "Connection lost"
/// (std::system_error would append ": <strerror>"). Private: users catch
/// std::system_error. It sits in namespace asyncio, not detail, because its
/// name shows in reports (describe(): "OSError('[Errno 104] ...')"); were
/// it ever made public, it would move to exceptions.hpp.
class OSError : public std::system_error {
 public:
  OSError(std::error_code code, std::string message) : std::system_error(code), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

}  // namespace asyncio

namespace asyncio::detail {

/// The error_code of a libuv status (negative): an errno in
/// std::system_category (so `code == std::errc::connection_refused`
/// works), a getaddrinfo error in a "getaddrinfo" category, anything else
/// (UV_EOF...) in a "libuv" category.
std::error_code uv_error_code(int status) noexcept;
/// Python's str(OSError(errno, message)): "[Errno N] message"; the
/// message defaults to strerror, as when the kernel raised the error.
std::string os_error_text(std::error_code code, std::string_view message = {});
/// The exception for `status`, as CPython raises it.
std::exception_ptr make_os_error(int status, std::string_view message = {});
[[noreturn]] void throw_os_error(int status, std::string_view message = {});
/// The same from errno.
[[noreturn]] void throw_errno(int err, std::string_view message = {});
/// ConnectionResetError('Connection lost').
std::exception_ptr connection_lost_error();
/// Whether `e` is an OSError (std::system_error): the transports report
/// only other exceptions to the loop's exception handler.
bool is_os_error(const std::exception_ptr& e) noexcept;

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_UV_ERROR_HPP
