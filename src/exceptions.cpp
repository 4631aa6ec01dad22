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
#include <utility>
#include <vector>

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

namespace {

/// The ExceptionGroup in `e`, null if it holds something else. The object
/// lives as long as `e` holds it.
const ExceptionGroup* group_in(const std::exception_ptr& e) noexcept {
  if (!e) return nullptr;
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    return &g;
  } catch (...) {
    return nullptr;
  }
}

/// Every leaf (non-group) exception of `e`, by identity.
void collect_leaves(const std::exception_ptr& e, std::vector<std::exception_ptr>& out) {
  if (const ExceptionGroup* g = group_in(e)) {
    for (const std::exception_ptr& m : g->exceptions()) collect_leaves(m, out);
  } else {
    out.push_back(e);
  }
}

bool contains(const std::vector<std::exception_ptr>& v, const std::exception_ptr& e) noexcept {
  for (const std::exception_ptr& x : v)
    if (x == e) return true;
  return false;
}

std::exception_ptr to_ptr(std::optional<ExceptionGroup>&& g) {
  return g ? std::make_exception_ptr(std::move(*g)) : nullptr;
}

/// ≙ CHECK_EG_MATCH: an exception that is E as a whole (a lone one wrapped
/// in a group), the matching part of a group, or nothing.
std::pair<std::exception_ptr, std::exception_ptr> star_match(const std::exception_ptr& e,
                                                             const detail::StarClause& clause) {
  const ExceptionGroup* g = group_in(e);
  if (clause.matches(e)) {
    if (g) return {e, nullptr};
    return {std::make_exception_ptr(ExceptionGroup("", {e})), nullptr};
  }
  if (!g) return {nullptr, e};
  ExceptionGroup::Split parts = g->split([&clause](const std::exception_ptr& x) { return clause.matches(x); });
  return {to_ptr(std::move(parts.match)), to_ptr(std::move(parts.rest))};
}

/// ≙ _PyExc_PrepReraiseStar: what an except* statement raises, given the
/// original exception and what its clauses raised or left (in order).
std::exception_ptr reraise_star(const std::exception_ptr& orig, const std::vector<std::exception_ptr>& excs) {
  if (excs.empty()) return nullptr;
  const ExceptionGroup* g = group_in(orig);
  // A lone exception: one clause at most ran, one thing at most to raise.
  if (!g) return excs.front();
  std::vector<std::exception_ptr> leaves;
  collect_leaves(orig, leaves);
  // A re-raise is made of the original's exceptions (CPython compares the
  // metadata that split() copies; here identity says the same).
  std::vector<std::exception_ptr> raised, reraised_leaves;
  for (const std::exception_ptr& e : excs) {
    std::vector<std::exception_ptr> own;
    collect_leaves(e, own);
    bool reraise = true;
    for (const std::exception_ptr& l : own) reraise = reraise && contains(leaves, l);
    if (reraise)
      reraised_leaves.insert(reraised_leaves.end(), own.begin(), own.end());
    else
      raised.push_back(e);
  }
  // The re-raised exceptions, back in the original's shape.
  if (!reraised_leaves.empty()) {
    if (reraised_leaves.size() == leaves.size())
      raised.push_back(orig);
    else if (auto part = g->subgroup([&](const std::exception_ptr& x) { return contains(reraised_leaves, x); }))
      raised.push_back(std::make_exception_ptr(std::move(*part)));
  }
  if (raised.empty()) return nullptr;
  if (raised.size() == 1) return raised.front();
  return std::make_exception_ptr(ExceptionGroup("", std::move(raised)));
}

}  // namespace

ExceptionGroup::Split ExceptionGroup::split(const Condition& condition) const {
  std::vector<std::exception_ptr> match, rest;
  for (const std::exception_ptr& e : excs_) {
    if (condition(e)) {
      match.push_back(e);
    } else if (const ExceptionGroup* g = group_in(e)) {
      Split parts = g->split(condition);
      if (parts.match) match.push_back(std::make_exception_ptr(std::move(*parts.match)));
      if (parts.rest) rest.push_back(std::make_exception_ptr(std::move(*parts.rest)));
    } else {
      rest.push_back(e);
    }
  }
  Split out;
  if (!match.empty()) out.match.emplace(what(), std::move(match));
  if (!rest.empty()) out.rest.emplace(what(), std::move(rest));
  return out;
}

namespace detail {

void except_star(const std::exception_ptr& e, const StarClause* clauses, std::size_t n) {
  std::exception_ptr rest = e;
  std::vector<std::exception_ptr> excs;
  for (std::size_t i = 0; i < n && rest; ++i) {
    auto [match, left] = star_match(rest, clauses[i]);
    rest = std::move(left);
    if (!match) continue;
    try {
      // Inside a catch of the matched group: `throw;` re-raises it.
      try {
        std::rethrow_exception(match);
      } catch (const ExceptionGroup& group) {
        clauses[i].call(clauses[i].handler, group);
      }
    } catch (...) {
      excs.push_back(std::current_exception());
    }
  }
  if (rest) excs.push_back(rest);
  if (std::exception_ptr out = reraise_star(e, excs)) std::rethrow_exception(out);
}

}  // namespace detail

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
