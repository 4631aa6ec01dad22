// asyncio-cpp: SPDX-License-Identifier: MIT
// Python's asyncio for C++20: the whole public API. ≙ Lib/asyncio/__init__.py
#ifndef ASYNCIO_ASYNCIO_HPP
#define ASYNCIO_ASYNCIO_HPP

#include <asyncio/as_completed.hpp>
#include <asyncio/asyncgen.hpp>
#include <asyncio/base_events.hpp>
#include <asyncio/contextlib.hpp>
#include <asyncio/contextvars.hpp>
#include <asyncio/coroutine.hpp>
#include <asyncio/datagrams.hpp>
#include <asyncio/events.hpp>
#include <asyncio/exceptions.hpp>
#include <asyncio/executors.hpp>
#include <asyncio/futures.hpp>
#include <asyncio/gather.hpp>
#include <asyncio/graph.hpp>
#include <asyncio/locks.hpp>
#include <asyncio/outcome.hpp>
#include <asyncio/protocols.hpp>
#include <asyncio/queues.hpp>
#include <asyncio/runners.hpp>
#include <asyncio/selector_events.hpp>
#include <asyncio/shield.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/ssl.hpp>
#include <asyncio/staggered.hpp>
#include <asyncio/streams.hpp>
#include <asyncio/subprocess.hpp>
#include <asyncio/taskgroups.hpp>
#include <asyncio/tasks.hpp>
#include <asyncio/channel.hpp>
#include <asyncio/multicore.hpp>
#include <asyncio/threads.hpp>
#include <asyncio/timeouts.hpp>
#include <asyncio/transports.hpp>
#include <asyncio/trsock.hpp>
#include <asyncio/wait.hpp>

#endif  // ASYNCIO_ASYNCIO_HPP
