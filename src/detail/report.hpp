// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: reporting through a loop's exception handler.
#ifndef ASYNCIO_SRC_DETAIL_REPORT_HPP
#define ASYNCIO_SRC_DETAIL_REPORT_HPP

#include <asyncio/detail/future_core.hpp>
#include <asyncio/events.hpp>

#include <optional>
#include <source_location>

namespace asyncio::detail {

/// Sends `ctx` to the handler of the loop behind `loop`, or to the default
/// handler once that loop is gone. Never throws.
void report(LoopCore* loop, const ExceptionContext& ctx) noexcept;
/// A callback raised `e`: a fatal exception is kept to be re-raised out of
/// the loop (spec S10); anything else is reported as "Exception in callback".
/// `site`: the handle's creation site (debug mode).
void report_callback_error(LoopCore* loop, std::exception_ptr e, std::string handle = "<Handle>",
                           std::optional<std::source_location> site = {}) noexcept;
/// Prints `ctx` on stderr (the default handler's format).
void print_context(const ExceptionContext& ctx) noexcept;

enum class ExceptionKind { ordinary, cancelled, fatal };
ExceptionKind classify(const std::exception_ptr& e) noexcept;

/// Runs one done-callback, reporting what it throws.
void run_callback(ReadyNode* cb, FutureCore& f) noexcept;

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_REPORT_HPP
