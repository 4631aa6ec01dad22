// asyncio-cpp: SPDX-License-Identifier: MIT
#include <asyncio/exceptions.hpp>

#include <cxxabi.h>

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

}  // namespace

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
