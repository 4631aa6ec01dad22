// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: the checks of a descriptor given to `sock=` (base_events_adopt.cpp).
#ifndef ASYNCIO_SRC_DETAIL_ADOPT_HPP
#define ASYNCIO_SRC_DETAIL_ADOPT_HPP

namespace asyncio::detail {

/// getsockopt(SOL_SOCKET, name) as an int. Throws OSError.
int socket_option(int fd, int name);
/// O_NONBLOCK on `fd` (≙ sock.setblocking(False)). Throws OSError.
void set_nonblocking(int fd);
/// A stream socket (`unix_only`: an AF_UNIX one), else
/// std::invalid_argument with CPython's message.
void check_stream_socket(int fd, bool unix_only);

}  // namespace asyncio::detail

#endif  // ASYNCIO_SRC_DETAIL_ADOPT_HPP
