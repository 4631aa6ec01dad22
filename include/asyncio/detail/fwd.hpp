// asyncio-cpp: SPDX-License-Identifier: MIT
// Forward declarations of the core templates, with their default arguments.
#ifndef ASYNCIO_DETAIL_FWD_HPP
#define ASYNCIO_DETAIL_FWD_HPP

namespace asyncio {

template <class T = void>
class Coroutine;
template <class T = void>
class Future;
template <class T = void>
class Task;
class EventLoop;

}  // namespace asyncio

#endif  // ASYNCIO_DETAIL_FWD_HPP
