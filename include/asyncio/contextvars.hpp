// asyncio-cpp: SPDX-License-Identifier: MIT
// Context variables: values that follow a task, a callback or a thread
// (a request id, a locale, a deadline). ≙ Lib/contextvars.py (PEP 567)
#ifndef ASYNCIO_CONTEXTVARS_HPP
#define ASYNCIO_CONTEXTVARS_HPP

#include <asyncio/detail/context_core.hpp>
#include <asyncio/exceptions.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

template <class T>
class ContextVar;
template <class T>
class Token;
class Context;

namespace detail {

/// What set() returns, whatever its T (≙ PyContextToken).
struct TokenCore {
  TokenCore(std::shared_ptr<const VarCore> var, ContextCore* context, std::shared_ptr<const void> old_value) noexcept;
  TokenCore(const TokenCore&) = delete;
  TokenCore& operator=(const TokenCore&) = delete;
  ~TokenCore() { context->decref(); }
  std::shared_ptr<const VarCore> var;
  ContextCore* context;                   ///< a counted reference
  std::shared_ptr<const void> old_value;  ///< null: Token.MISSING
  bool used = false;
};

/// The value of `var` in the current context, else null.
const void* context_lookup(const VarCore& var) noexcept;
/// Sets `var` in the current context (made a Context object if it was not).
std::shared_ptr<TokenCore> context_set(std::shared_ptr<const VarCore> var, std::shared_ptr<const void> value);
void context_reset(const VarCore& var, TokenCore& token);
std::string var_repr(const VarCore& var);
std::string token_repr(const TokenCore& token);
/// Enters `core` for Context::run(): RuntimeError("cannot enter context:
/// <...> is already entered") if it is.
class EnteredContext {
 public:
  explicit EnteredContext(ContextCore& core);
  EnteredContext(const EnteredContext&) = delete;
  EnteredContext& operator=(const EnteredContext&) = delete;
  ~EnteredContext();

 private:
  ContextSlot slot_;
  ContextSlot* outer_;
};

template <class T>
std::string default_repr(const T& v) {
  if constexpr (std::is_same_v<T, bool>)
    return v ? "True" : "False";
  else if constexpr (std::is_arithmetic_v<T>)
    return std::to_string(v);
  else if constexpr (std::is_convertible_v<const T&, std::string>)
    return "'" + std::string(v) + "'";
  else
    return {};
}

}  // namespace detail

/// A context variable holding a T (≙ contextvars.ContextVar). A copyable
/// handle: copies are the same variable. Its value is looked up in the
/// current context: a task's own (a copy of its creator's), a callback's (a
/// copy of its scheduler's), or the one Context::run() entered.
template <class T>
class ContextVar {
 public:
  static_assert(std::is_copy_constructible_v<T>, "get() gives a copy of the value");

  /// `ContextVar<int> var("name")`: no default, get() throws LookupError.
  explicit ContextVar(std::string name) : core_(make(std::move(name), nullptr)) {}
  /// `ContextVar<int> var("name", 0)`: get() gives `default_value` when unset.
  ContextVar(std::string name, T default_value)
      : core_(make(std::move(name), std::make_shared<const T>(std::move(default_value)))) {}

  /// The name given at construction.
  const std::string& name() const noexcept { return core_->name; }
  /// The value in the current context, else the default; else throws
  /// LookupError(repr()).
  T get() const {
    if (const void* v = detail::context_lookup(*core_)) return *static_cast<const T*>(v);
    if (core_->default_value) return *static_cast<const T*>(core_->default_value.get());
    throw LookupError(repr());
  }
  /// The value in the current context, else `default_value` (which wins over
  /// the variable's own default, as in CPython).
  T get(T default_value) const {
    if (const void* v = detail::context_lookup(*core_)) return *static_cast<const T*>(v);
    return default_value;
  }
  /// Sets the value in the current context; the Token undoes it (reset()).
  Token<T> set(T value);
  /// Restores the value the variable had before set() made `token`.
  /// RuntimeError("<Token ...> has already been used once"),
  /// std::invalid_argument("<Token ...> was created by a different
  /// ContextVar") or ("... was created in a different Context").
  void reset(const Token<T>& token);
  /// `<ContextVar name='a' default=42 at 0x...>`, as CPython's.
  std::string repr() const { return detail::var_repr(*core_); }

  friend bool operator==(const ContextVar& a, const ContextVar& b) noexcept { return a.core_ == b.core_; }
  const detail::VarCore& core() const noexcept { return *core_; }

 private:
  static std::shared_ptr<const detail::VarCore> make(std::string name, std::shared_ptr<const void> dflt) {
    std::string r = dflt ? detail::default_repr(*static_cast<const T*>(dflt.get())) : std::string();
    return std::make_shared<const detail::VarCore>(detail::VarCore{std::move(name), std::move(dflt), std::move(r)});
  }
  explicit ContextVar(std::shared_ptr<const detail::VarCore> c) noexcept : core_(std::move(c)) {}
  std::shared_ptr<const detail::VarCore> core_;
  template <class>
  friend class Token;
  friend class Context;
};

/// What ContextVar::set() returns (≙ contextvars.Token): the variable, the
/// value it replaced, and the context it was set in.
template <class T>
class Token {
 public:
  /// The variable that made this token.
  ContextVar<T> var() const { return ContextVar<T>(core_->var); }
  /// The value before set(); empty for ≙ Token.MISSING (it had none).
  std::optional<T> old_value() const {
    if (!core_->old_value) return std::nullopt;
    return *static_cast<const T*>(core_->old_value.get());
  }
  /// `<Token var=<ContextVar ...> at 0x...>` (`<Token used var=...` once used).
  std::string repr() const { return detail::token_repr(*core_); }

 private:
  explicit Token(std::shared_ptr<detail::TokenCore> c) noexcept : core_(std::move(c)) {}
  std::shared_ptr<detail::TokenCore> core_;
  friend class ContextVar<T>;
};

template <class T>
Token<T> ContextVar<T>::set(T value) {
  return Token<T>(detail::context_set(core_, std::make_shared<const T>(std::move(value))));
}

template <class T>
void ContextVar<T>::reset(const Token<T>& token) {
  detail::context_reset(*core_, *token.core_);
}

/// A mapping of context variables to values (≙ contextvars.Context). A
/// copyable handle to one context object; copies are the same context (use
/// copy() for another). Copying is O(1): the map is immutable and shared.
class Context {
 public:
  /// A new, empty context (≙ contextvars.Context()).
  Context() : core_(new detail::ContextCore(nullptr)) {}
  Context(const Context& o) noexcept : core_(o.core_) { core_->incref(); }
  Context(Context&& o) noexcept : core_(std::exchange(o.core_, nullptr)) {}
  Context& operator=(Context o) noexcept {
    std::swap(core_, o.core_);
    return *this;
  }
  ~Context() {
    if (core_) core_->decref();
  }

  /// Calls `fn(args...)` with this context current and gives its result;
  /// what fn sets stays in this context. RuntimeError("cannot enter
  /// context: <...> is already entered") if it is (in any thread).
  template <class F, class... A>
  std::invoke_result_t<F, A...> run(F&& fn, A&&... args) {
    detail::EnteredContext entered(*core_);
    return std::invoke(std::forward<F>(fn), std::forward<A>(args)...);
  }
  /// A shallow copy (≙ Context.copy()): O(1).
  Context copy() const;
  /// `var`'s value in this context, if it has one (≙ ctx.get(var)).
  template <class T>
  std::optional<T> get(const ContextVar<T>& var) const {
    if (const detail::ContextEntry* e = find(var.core())) return *static_cast<const T*>(e->value.get());
    return std::nullopt;
  }
  /// ≙ ctx.get(var, default).
  template <class T>
  T get(const ContextVar<T>& var, std::type_identity_t<T> default_value) const {
    if (const detail::ContextEntry* e = find(var.core())) return *static_cast<const T*>(e->value.get());
    return default_value;
  }
  /// ≙ ctx[var]: KeyError(var.repr()) if it has no value here.
  template <class T>
  T operator[](const ContextVar<T>& var) const {
    if (const detail::ContextEntry* e = find(var.core())) return *static_cast<const T*>(e->value.get());
    throw KeyError(var.repr());
  }
  /// ≙ `var in ctx`.
  template <class T>
  bool contains(const ContextVar<T>& var) const noexcept {
    return find(var.core()) != nullptr;
  }
  /// ≙ len(ctx): the number of variables with a value here.
  std::size_t size() const noexcept;
  /// The names of those variables, in no particular order (≙ ctx.keys()).
  std::vector<std::string> names() const;
  /// `<_contextvars.Context object at 0x...>`.
  std::string repr() const;
  /// The same context object (≙ `is`).
  friend bool operator==(const Context& a, const Context& b) noexcept { return a.core_ == b.core_; }

  detail::ContextCore* core() const noexcept { return core_; }
  /// Adopts one reference.
  explicit Context(detail::ContextCore* c) noexcept : core_(c) {}

 private:
  const detail::ContextEntry* find(const detail::VarCore& var) const noexcept {
    return core_->map ? core_->map->find(&var) : nullptr;
  }
  detail::ContextCore* core_;
};

/// A copy of the current context (≙ contextvars.copy_context()): O(1).
Context copy_context();

}  // namespace asyncio

#endif  // ASYNCIO_CONTEXTVARS_HPP
