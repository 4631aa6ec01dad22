// asyncio-cpp: SPDX-License-Identifier: MIT
// libuv status codes as std::system_error.
#include "detail/uv_error.hpp"

#include <uv.h>

#include <netdb.h>

#include <cstring>

namespace asyncio::detail {

namespace {

class UvCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "libuv"; }
  std::string message(int status) const override { return uv_strerror(status); }
};

// getaddrinfo errors carry the EAI_* value, as Python's socket.gaierror.
class GaiCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int eai) const override { return gai_strerror(eai); }
};

const UvCategory uv_category_instance;
const GaiCategory gai_category_instance;

// libuv's UV_EAI_* values are its own; map back to the system's EAI_*.
int eai_of(int status) noexcept {
  switch (status) {
    case UV_EAI_ADDRFAMILY: return EAI_ADDRFAMILY;
    case UV_EAI_AGAIN: return EAI_AGAIN;
    case UV_EAI_BADFLAGS: return EAI_BADFLAGS;
    case UV_EAI_FAIL: return EAI_FAIL;
    case UV_EAI_FAMILY: return EAI_FAMILY;
    case UV_EAI_MEMORY: return EAI_MEMORY;
    case UV_EAI_NODATA: return EAI_NODATA;
    case UV_EAI_NONAME: return EAI_NONAME;
    case UV_EAI_OVERFLOW: return EAI_OVERFLOW;
    case UV_EAI_SERVICE: return EAI_SERVICE;
    case UV_EAI_SOCKTYPE: return EAI_SOCKTYPE;
    case UV_EAI_CANCELED: return EAI_CANCELED;
    default: return 0;
  }
}

}  // namespace

std::error_code uv_error_code(int status) noexcept {
  // On Unix libuv's error codes are -errno, except its own (UV_EOF,
  // UV_EAI_*, ...) which sit below -3000.
  if (status < 0 && status > -3000) return {-status, std::system_category()};
  if (int eai = eai_of(status)) return {eai, gai_category_instance};
  return {status, uv_category_instance};
}

std::string os_error_text(std::error_code code, std::string_view message) {
  std::string text = "[Errno " + std::to_string(code.value()) + "] ";
  if (message.empty())
    text += code.message();
  else
    text += message;
  return text;
}

std::exception_ptr make_os_error(int status, std::string_view message) {
  try {
    std::error_code code = uv_error_code(status);
    return std::make_exception_ptr(OSError(code, os_error_text(code, message)));
  } catch (...) {
    return std::current_exception();
  }
}

void throw_os_error(int status, std::string_view message) { std::rethrow_exception(make_os_error(status, message)); }

void throw_errno(int err, std::string_view message) {
  std::error_code code(err, std::system_category());
  throw OSError(code, os_error_text(code, message));
}

std::exception_ptr connection_lost_error() {
  return std::make_exception_ptr(
      OSError(std::make_error_code(std::errc::connection_reset), "Connection lost"));
}

bool is_os_error(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace asyncio::detail
