// asyncio-cpp: SPDX-License-Identifier: MIT
// Context variables. ≙ Python/context.c (design-notes.md, "Context variables")
#include <asyncio/contextvars.hpp>

#include <asyncio/tasks.hpp>

#include "detail/loop_impl.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>

namespace asyncio {

namespace detail {

namespace {

// tls.thread_context is trivially destructible, so that reading it costs no
// thread_local initialisation check on the hot path; what a thread set at
// its top level is released by this object, made by the first such set().
struct ThreadContextRelease {
  ~ThreadContextRelease() { release_slot(std::exchange(tls.thread_context, 0)); }
};

void hold_thread_context() {
  static thread_local ThreadContextRelease release;
  (void)release;
}

std::string address(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

std::vector<ContextEntry>::iterator lower_bound(std::vector<ContextEntry>& es, const VarCore* var) {
  return std::lower_bound(es.begin(), es.end(), var,
                          [](const ContextEntry& e, const VarCore* v) { return std::less<>()(e.var.get(), v); });
}

/// `m` with `var` set to `value` (removed if null): a new map, or null for
/// an empty one. The entries are shared with `m`; `m` is left as it is.
ContextMap* with(const ContextMap* m, const std::shared_ptr<const VarCore>& var, std::shared_ptr<const void> value) {
  auto next = std::make_unique<ContextMap>();
  if (m) next->entries = m->entries;
  std::vector<ContextEntry>& es = next->entries;
  auto it = lower_bound(es, var.get());
  const bool found = it != es.end() && it->var == var;
  if (!value) {
    if (found) es.erase(it);
  } else if (found) {
    it->value = std::move(value);
  } else {
    es.insert(it, ContextEntry{var, std::move(value)});
  }
  if (es.empty()) return nullptr;
  return next.release();
}

void replace_map(ContextCore& core, ContextMap* m) noexcept {
  if (core.map) core.map->decref();
  core.map = m;
}

std::string context_repr(const ContextCore* core) { return "<_contextvars.Context object at " + address(core) + ">"; }

}  // namespace

const ContextEntry* ContextMap::find(const VarCore* var) const noexcept {
  auto it = std::lower_bound(entries.begin(), entries.end(), var,
                             [](const ContextEntry& e, const VarCore* v) { return std::less<>()(e.var.get(), v); });
  return it != entries.end() && it->var.get() == var ? &*it : nullptr;
}

ContextSlot copy_slot(ContextSlot s) noexcept {
  ContextMap* m = map_of(s);
  if (!m) return 0;
  m->incref();
  return reinterpret_cast<ContextSlot>(m) | 1;
}

void release_nonempty_slot(ContextSlot s) noexcept {
  if (s & 1)
    map_of(s)->decref();
  else
    core_of(s)->decref();
}

ContextCore* materialize(ContextSlot& slot) {
  if (is_core(slot)) return core_of(slot);
  if (&slot == &tls.thread_context) hold_thread_context();
  // The new object takes over the slot's reference to the map.
  auto* core = new ContextCore(map_of(slot));
  slot = reinterpret_cast<ContextSlot>(core);
  return core;
}

const void* context_lookup(const VarCore& var) noexcept {
  const ContextMap* m = map_of(current_slot());
  if (!m) return nullptr;
  const ContextEntry* e = m->find(&var);
  return e ? e->value.get() : nullptr;
}

TokenCore::TokenCore(std::shared_ptr<const VarCore> v, ContextCore* c, std::shared_ptr<const void> old) noexcept
    : var(std::move(v)), context(c), old_value(std::move(old)) {
  context->incref();
}

std::shared_ptr<TokenCore> context_set(std::shared_ptr<const VarCore> var, std::shared_ptr<const void> value) {
  ContextCore* core = materialize(current_slot());
  const ContextEntry* old = core->map ? core->map->find(var.get()) : nullptr;
  auto token = std::make_shared<TokenCore>(var, core, old ? old->value : nullptr);
  replace_map(*core, with(core->map, var, std::move(value)));
  return token;
}

void context_reset(const VarCore& var, TokenCore& token) {
  // CPython's order of checks (contextvar_reset in Python/context.c).
  if (token.used) throw RuntimeError(token_repr(token) + " has already been used once");
  if (token.var.get() != &var) throw std::invalid_argument(token_repr(token) + " was created by a different ContextVar");
  ContextSlot s = current_slot();
  if (!is_core(s) || core_of(s) != token.context)
    throw std::invalid_argument(token_repr(token) + " was created in a different Context");
  replace_map(*token.context, with(token.context->map, token.var, token.old_value));
  token.used = true;
}

std::string var_repr(const VarCore& var) {
  std::string r = "<ContextVar name='" + var.name + "'";
  if (!var.default_repr.empty()) r += " default=" + var.default_repr;
  return r + " at " + address(&var) + ">";
}

std::string token_repr(const TokenCore& token) {
  return std::string("<Token ") + (token.used ? "used " : "") + "var=" + var_repr(*token.var) + " at " +
         address(&token) + ">";
}

EnteredContext::EnteredContext(ContextCore& core) : slot_(reinterpret_cast<ContextSlot>(&core)) {
  if (core.entered.exchange(true, std::memory_order_acquire))
    throw RuntimeError("cannot enter context: " + context_repr(&core) + " is already entered");
  core.incref();
  outer_ = std::exchange(tls.context, &slot_);
}

EnteredContext::~EnteredContext() {
  tls.context = outer_;
  ContextCore* core = core_of(slot_);
  core->entered.store(false, std::memory_order_release);
  core->decref();
}

}  // namespace detail

namespace {

Context context_of(const detail::ContextMap* m) {
  if (m) const_cast<detail::ContextMap*>(m)->incref();
  return Context(new detail::ContextCore(const_cast<detail::ContextMap*>(m)));
}

Context adopt_slot(detail::ContextSlot& slot) {
  detail::ContextCore* c = detail::materialize(slot);
  c->incref();
  return Context(c);
}

}  // namespace

Context Context::copy() const { return context_of(core_->map); }

std::size_t Context::size() const noexcept { return core_->map ? core_->map->entries.size() : 0; }

std::vector<std::string> Context::names() const {
  std::vector<std::string> out;
  if (core_->map)
    for (const detail::ContextEntry& e : core_->map->entries) out.push_back(e.var->name);
  return out;
}

std::string Context::repr() const { return detail::context_repr(core_); }

Context copy_context() { return context_of(detail::map_of(detail::current_slot())); }

Context TaskRef::get_context() const { return adopt_slot(live()->context_slot()); }

Context Handle::get_context() const {
  if (!s_) throw std::invalid_argument("get_context() of an empty Handle");
  return adopt_slot(s_->context);
}

}  // namespace asyncio
