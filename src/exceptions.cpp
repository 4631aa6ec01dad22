// asyncio-cpp: SPDX-License-Identifier: MIT
#include <asyncio/exceptions.hpp>

#include <cxxabi.h>

#include <cerrno>
#include <new>
#include <stdexcept>
#include <system_error>

#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>

namespace asyncio {

namespace {

std::string expected_text(std::optional<std::size_t> expected) {
  return expected ? std::to_string(*expected) : std::string("undefined");
}

// Python shows `Type('message')`; our types live in namespace asyncio, which
// the repr leaves out so that ported programs print what Python prints.
std::string type_name(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                           std::free);
  std::string name = status == 0 && d ? d.get() : t.name();
  const std::string prefix = "asyncio::";
  if (name.rfind(prefix, 0) == 0) name.erase(0, prefix.size());
  return name;
}

std::string repr(const std::type_info& t, const char* what) {
  std::string msg = what ? what : "";
  return type_name(t) + (msg.empty() ? "()" : "('" + msg + "')");
}

/// The Python name of the OSError subclass for `code` (≙ the errno map of
/// Objects/exceptions.c).
const char* os_error_name(const std::error_code& code) {
  if (code.category() != std::system_category() && code.category() != std::generic_category()) return "OSError";
  switch (code.value()) {
    case EAGAIN: case EALREADY: case EINPROGRESS: return "BlockingIOError";
    case ECHILD: return "ChildProcessError";
    case EPIPE: case ESHUTDOWN: return "BrokenPipeError";
    case ECONNABORTED: return "ConnectionAbortedError";
    case ECONNREFUSED: return "ConnectionRefusedError";
    case ECONNRESET: return "ConnectionResetError";
    case EEXIST: return "FileExistsError";
    case ENOENT: return "FileNotFoundError";
    case EISDIR: return "IsADirectoryError";
    case ENOTDIR: return "NotADirectoryError";
    case EINTR: return "InterruptedError";
    case EACCES: case EPERM: return "PermissionError";
    case ESRCH: return "ProcessLookupError";
    case ETIMEDOUT: return "TimeoutError";
    default: return "OSError";
  }
}

/// The name Python shows for the exception being handled.
std::string python_name() {
  try {
    throw;
  } catch (const ExceptionGroup&) {
    return "ExceptionGroup";
  } catch (const CancelledError&) {
    return "asyncio.exceptions.CancelledError";
  } catch (const BaseException& b) {
    return type_name(typeid(b));
  } catch (const std::system_error& e) {
    return os_error_name(e.code());
  } catch (const std::invalid_argument&) {
    return "ValueError";
  } catch (const std::overflow_error&) {
    return "OverflowError";
  } catch (const std::out_of_range&) {
    return "IndexError";
  } catch (const std::bad_alloc&) {
    return "MemoryError";
  } catch (const std::exception& x) {
    return type_name(typeid(x));
  } catch (...) {
    return "<unknown exception>";
  }
}

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const BaseException& b) {
    return b.what();
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return {};
  }
}

void format_into(std::string& out, const std::exception_ptr& e, const std::string& indent) {
  std::string name;
  try {
    std::rethrow_exception(e);
  } catch (...) {
    name = python_name();
  }
  const std::string msg = message_of(e);
  out += indent + name;
  if (!msg.empty()) out += ": " + msg;
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    const std::size_t n = g.exceptions().size();
    out += " (" + std::to_string(n) + (n == 1 ? " sub-exception)\n" : " sub-exceptions)\n");
    for (const std::exception_ptr& member : g.exceptions()) format_into(out, member, indent + "  ");
    return;
  } catch (...) {
  }
  out += "\n";
}

}  // namespace

std::string format_exception_only(const std::exception_ptr& e) {
  if (!e) return "NoneType: None\n";
  std::string out;
  format_into(out, e, "");
  return out;
}

IncompleteReadError::IncompleteReadError(std::string partial_, std::optional<std::size_t> expected_)
    : std::runtime_error(std::to_string(partial_.size()) + " bytes read on a total of " +
                         expected_text(expected_) + " expected bytes"),
      partial(std::move(partial_)),
      expected(expected_) {}

std::string describe(const std::exception_ptr& e) {
  if (!e) return "None";
  try {
    std::rethrow_exception(e);
  } catch (const BaseException& b) {
    return repr(typeid(b), b.what());
  } catch (const std::exception& x) {
    return repr(typeid(x), x.what());
  } catch (...) {
    return "<unknown exception>";
  }
}

}  // namespace asyncio
