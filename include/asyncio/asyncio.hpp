// asyncio-cpp: SPDX-License-Identifier: MIT
// Python's asyncio for C++20: the whole public API. ≙ Lib/asyncio/__init__.py
#ifndef ASYNCIO_ASYNCIO_HPP
#define ASYNCIO_ASYNCIO_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/events.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/outcome.hpp>
#include <asyncio/runners.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/tasks.hpp>

#endif  // ASYNCIO_ASYNCIO_HPP
