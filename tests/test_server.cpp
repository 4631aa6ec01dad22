// Tests for Server (include/asyncio/base_events.hpp, started through
// streams.hpp) ≙ Lib/test/test_asyncio/test_server.py: catalogue area 9,
// the Server part (spec §9, §14 I).
//
// Ported: 327, 328, 329, 330, 332. Also test_start_server_1 (the TCP twin
// of 327), test_abort_clients and the Unix cleanup variants, which the
// catalogue leaves out. Skipped: the `sock=` half of 332
// (test_unix_server_sock_cleanup): start_unix_server takes no ready-made
// socket here.
#include <asyncio/base_events.hpp>

#include "net_test.hpp"

#include <sys/stat.h>
#include <sys/un.h>

#include <string>
#include <system_error>
#include <vector>

using namespace asyncio;
using asyncio_test::holds;
using asyncio_test::what;
using net_test::NetLoop;
using net_test::port_of;
using net_test::run_net;

namespace {

bool path_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// The task test_start_server_1's handler cancels (≙ main_task).
TaskRef g_main_task;

const std::string HELLO_MSG = std::string(1024 * 5, '1') + "\n";

Coroutine<> serve_and_cancel_main(StreamReader reader, StreamWriter writer) {
  co_await reader.readline();
  g_main_task.cancel();
  writer.write("1");
  writer.close();
  co_await writer.wait_closed();
}

Coroutine<> send_hello(StreamReader reader, StreamWriter writer) {
  writer.write(HELLO_MSG);
  EXPECT_EQ(co_await reader.readexactly(1), "1");
  writer.close();
  co_await writer.wait_closed();
}

/// ≙ `async with srv: await srv.serve_forever()`.
Coroutine<> serve_with(Server srv, bool start_first) {
  std::exception_ptr error;
  try {
    if (start_first) {
      EXPECT_FALSE(srv.is_serving());
      co_await srv.start_serving();
      EXPECT_TRUE(srv.is_serving());
    }
    co_await srv.serve_forever();
  } catch (...) {
    error = std::current_exception();
  }
  co_await net_test::close_server(srv);
  if (error) std::rethrow_exception(error);
}

/// Awaits `t`; true if it ended with CancelledError.
Coroutine<bool> ends_cancelled(Task<> t) {
  try {
    co_await t;
  } catch (const CancelledError&) {
    co_return true;
  }
  co_return false;
}

void expect_closed_server(const Server& srv) {
  EXPECT_TRUE(srv.sockets().empty());
  EXPECT_FALSE(srv.is_serving());
  EXPECT_EQ(srv.repr(), "<Server sockets=()>");
}

Coroutine<> expect_serve_forever_closed(Server srv) {
  std::exception_ptr e;
  try {
    co_await srv.serve_forever();
  } catch (...) {
    e = std::current_exception();
  }
  EXPECT_EXC(e, RuntimeError, "server <Server sockets=()> is closed");
}

/// Handler of TestServer2: read to EOF, then close.
Coroutine<> read_then_close(StreamReader rd, StreamWriter wr) {
  try {
    co_await rd.read();
  } catch (const std::exception&) {
  }
  wr.close();
  co_await wr.wait_closed();
}

}  // namespace

// ---- 327 (and its TCP twin) --------------------------------------------------

TEST(Server, StartServer1) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server srv = co_await start_server(serve_and_cancel_main, "127.0.0.1", 0, {.start_serving = false});
    EXPECT_FALSE(srv.is_serving());
    Task<> main_task = create_task(serve_with(srv, false));
    g_main_task = main_task;
    const int port = port_of(srv);
    while (!srv.is_serving()) co_await asyncio::sleep(0);  // ≙ the client's polling
    auto [rd, wr] = co_await open_connection("127.0.0.1", port);
    co_await send_hello(rd, wr);
    EXPECT_TRUE(co_await ends_cancelled(main_task));
    g_main_task = TaskRef();
    expect_closed_server(srv);
    co_await expect_serve_forever_closed(srv);
  });
}

TEST(Server, Cat327_StartUnixServer1) {
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("327");
    Server srv = co_await start_unix_server(serve_and_cancel_main, path, {.start_serving = false});
    Task<> main_task = create_task(serve_with(srv, true));
    g_main_task = main_task;
    while (!srv.is_serving()) co_await asyncio::sleep(0);  // ≙ started.wait()
    auto [rd, wr] = co_await open_unix_connection(path);
    co_await send_hello(rd, wr);
    EXPECT_TRUE(co_await ends_cancelled(main_task));
    g_main_task = TaskRef();
    expect_closed_server(srv);
    co_await expect_serve_forever_closed(srv);
    EXPECT_FALSE(path_exists(path));
  });
}

// ---- 328 ---------------------------------------------------------------------

TEST(Server, Cat328_WaitClosedBasic) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server srv = co_await start_server(read_then_close, "127.0.0.1", 0);
    // Active count 0, not closed: blocks.
    Task<> task1 = create_task(srv.wait_closed());
    co_await asyncio::sleep(0);
    EXPECT_FALSE(task1.done());
    // Active count 1, not closed: blocks.
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(srv));
    Task<> task2 = create_task(srv.wait_closed());
    co_await asyncio::sleep(0);
    EXPECT_FALSE(task1.done());
    EXPECT_FALSE(task2.done());
    srv.close();
    co_await asyncio::sleep(0);
    // Active count 1, closed: blocks.
    Task<> task3 = create_task(srv.wait_closed());
    co_await asyncio::sleep(0);
    EXPECT_FALSE(task1.done());
    EXPECT_FALSE(task2.done());
    EXPECT_FALSE(task3.done());
    wr.close();
    co_await wr.wait_closed();
    // Active count 0, closed: unblocks.
    co_await task1;
    co_await task2;
    co_await task3;
    co_await srv.wait_closed();  // returns at once
  });
}

// ---- 329 ---------------------------------------------------------------------

TEST(Server, Cat329_WaitClosedRace) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server srv = co_await start_server(read_then_close, "127.0.0.1", 0);
    Task<> task = create_task(srv.wait_closed());
    co_await asyncio::sleep(0);
    EXPECT_FALSE(task.done());
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(srv));
    EventLoop& loop = get_running_loop();
    loop.call_soon([srv]() mutable { srv.close(); });
    loop.call_soon([wr] { wr.close(); });
    co_await srv.wait_closed();
    co_await task;
  });
}

// ---- 330 ---------------------------------------------------------------------

TEST(Server, Cat330_CloseClients) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server srv = co_await start_server(read_then_close, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(srv));
    co_await asyncio::sleep(0.01);  // the server side is made on a later pass
    Task<> task = create_task(srv.wait_closed());
    co_await asyncio::sleep(0);
    EXPECT_FALSE(task.done());
    srv.close();
    srv.close_clients();
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    EXPECT_TRUE(task.done());
    wr.close();
    co_await wr.wait_closed();
  });
}

TEST(Server, AbortClients) {
  // ≙ test_abort_clients: a server-side writer stuck with a full buffer.
  run_net([](NetLoop&) -> Coroutine<> {
    Future<StreamWriter> fut = get_running_loop().create_future<StreamWriter>();
    auto handler = [fut](StreamReader, StreamWriter wr) -> Coroutine<> {
      fut.set_result(wr);
      return [](StreamWriter w) -> Coroutine<> {
        try {
          co_await w.wait_closed();
        } catch (const std::exception&) {
        }
      }(wr);
    };
    Server srv = co_await start_server(handler, "127.0.0.1", 0);
    auto [c_rd, c_wr] = co_await open_connection("127.0.0.1", port_of(srv), {.limit = 4096});
    StreamWriter s_wr = co_await fut;
    std::any_cast<TransportSocket>(s_wr.get_extra_info("socket")).setsockopt(SOL_SOCKET, SO_SNDBUF, 65536);
    std::any_cast<TransportSocket>(c_wr.get_extra_info("socket")).setsockopt(SOL_SOCKET, SO_RCVBUF, 65536);
    // The client's reader pauses over twice its limit.
    for (int i = 0; i < 3; ++i) s_wr.write(std::string(4096, 'a'));
    while (c_wr.transport().is_reading()) co_await asyncio::sleep(0);
    // Fill the kernel buffers until the transport's own buffer is used.
    for (int i = 0; i < 10 && s_wr.transport().get_write_buffer_size() == 0; ++i) {
      s_wr.write(std::string(256 * 1024, 'a'));
      s_wr.write(std::string(256 * 1024, 'a'));
    }
    EXPECT_NE(s_wr.transport().get_write_buffer_size(), 0u);
    Task<> task = create_task(srv.wait_closed());
    co_await asyncio::sleep(0);
    EXPECT_FALSE(task.done());
    srv.close();
    srv.abort_clients();
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    EXPECT_TRUE(task.done());
    c_wr.close();
    co_await c_wr.wait_closed();
  });
}

// ---- 332 ---------------------------------------------------------------------

TEST(Server, Cat332_UnixServerAddrCleanup) {
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("332");
    Server srv = co_await start_unix_server([](StreamReader, StreamWriter) {}, path);
    EXPECT_TRUE(path_exists(path));
    srv.close();
    EXPECT_FALSE(path_exists(path));
  });
}

TEST(Server, UnixServerCleanupGone) {
  // Someone else has already removed the socket file: no error.
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("gone");
    Server srv = co_await start_unix_server([](StreamReader, StreamWriter) {}, path);
    ::unlink(path.c_str());
    srv.close();
    EXPECT_FALSE(path_exists(path));
  });
}

TEST(Server, UnixServerCleanupReplaced) {
  // Someone else has replaced the socket file with their own: left alone.
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("replaced");
    Server srv = co_await start_unix_server([](StreamReader, StreamWriter) {}, path);
    ::unlink(path.c_str());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::snprintf(un.sun_path, sizeof un.sun_path, "%s", path.c_str());
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un), 0);
    srv.close();
    EXPECT_TRUE(path_exists(path));
    close(fd);
    ::unlink(path.c_str());
  });
}

TEST(Server, UnixServerCleanupPrevented) {
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("prevented");
    Server srv = co_await start_unix_server([](StreamReader, StreamWriter) {}, path, {.cleanup_socket = false});
    srv.close();
    EXPECT_TRUE(path_exists(path));
    ::unlink(path.c_str());
  });
}

// ---- more than the catalogue -------------------------------------------------

TEST(Server, ServeForeverTwice) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server srv = co_await start_server([](StreamReader, StreamWriter) {}, "127.0.0.1", 0);
    Task<> forever = create_task(srv.serve_forever());
    co_await asyncio::sleep(0);
    std::exception_ptr e;
    try {
      co_await srv.serve_forever();
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, RuntimeError, "server " + srv.repr() + " is already being awaited on serve_forever()");
    EXPECT_NE(srv.repr().find("laddr=('127.0.0.1', " + std::to_string(port_of(srv)) + ")"), std::string::npos);
    // close() cancels serve_forever().
    srv.close();
    EXPECT_TRUE(co_await ends_cancelled(forever));
  });
}

TEST(Server, CancellingServeForeverClosesTheServer) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server srv = co_await start_server([](StreamReader, StreamWriter) {}, "127.0.0.1", 0);
    Task<> forever = create_task(srv.serve_forever());
    co_await asyncio::sleep(0);
    EXPECT_TRUE(srv.is_serving());
    forever.cancel();
    EXPECT_TRUE(co_await ends_cancelled(forever));
    expect_closed_server(srv);
  });
}

TEST(Server, BindErrorMessage) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server first = co_await start_server([](StreamReader, StreamWriter) {}, "127.0.0.1", 0);
    const int port = port_of(first);
    std::exception_ptr e;
    try {
      co_await start_server([](StreamReader, StreamWriter) {}, "127.0.0.1", port, {.reuse_address = false});
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, std::system_error,
               "[Errno 98] error while attempting to bind on address ('127.0.0.1', " + std::to_string(port) +
                   "): address already in use");
    try {
      std::rethrow_exception(e);
    } catch (const std::system_error& x) {
      EXPECT_EQ(x.code(), std::errc::address_in_use);
    } catch (...) {
    }
    co_await net_test::close_server(first);
  });
}

TEST(Server, ReusePortSharesAPort) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server a = co_await start_server([](StreamReader, StreamWriter) {}, "127.0.0.1", 0, {.reuse_port = true});
    Server b = co_await start_server([](StreamReader, StreamWriter) {}, "127.0.0.1", port_of(a), {.reuse_port = true});
    EXPECT_EQ(port_of(a), port_of(b));
    a.close();
    b.close();
  });
}

TEST(Server, AllInterfacesAndLocalhost) {
  // host "" binds every interface; "localhost" goes through getaddrinfo.
  run_net([](NetLoop&) -> Coroutine<> {
    Server srv = co_await start_server(
        [](StreamReader r, StreamWriter w) -> Coroutine<> {
          w.write(co_await r.readline());
          w.close();
        },
        "", 0, {.family = AF_INET});
    EXPECT_EQ(srv.sockets().size(), 1u);
    EXPECT_EQ(srv.sockets()[0].getsockname().host, "0.0.0.0");
    auto [rd, wr] = co_await open_connection("localhost", port_of(srv), {.family = AF_INET});
    wr.write("via localhost\n");
    EXPECT_EQ(co_await rd.readline(), "via localhost\n");
    wr.close();
    co_await wr.wait_closed();
    co_await net_test::close_server(srv);
  });
}

TEST(Server, NoneHostMeansEveryInterface) {
  run_net([](NetLoop&) -> Coroutine<> {
    Server srv = co_await start_server([](StreamReader, StreamWriter) {}, nullptr, 0, {.family = AF_INET});
    EXPECT_EQ(srv.sockets().at(0).getsockname().host, "0.0.0.0");
    co_await net_test::close_server(srv);
  });
}

TEST(Server, DroppedHandleKeepsServing) {
  // The loop keeps a listening server alive, as CPython's does.
  run_net([](NetLoop&) -> Coroutine<> {
    int port = 0;
    {
      Server srv = co_await start_server(
          [](StreamReader r, StreamWriter w) -> Coroutine<> {
            w.write(co_await r.readline());
            w.close();
          },
          "127.0.0.1", 0);
      port = port_of(srv);
    }
    auto [rd, wr] = co_await open_connection("127.0.0.1", port);
    wr.write("still here\n");
    EXPECT_EQ(co_await rd.readline(), "still here\n");
    wr.close();
    co_await wr.wait_closed();
    // The loop's close() closes the listening socket.
  });
}

TEST(Server, UnixAddressInUse) {
  run_net([](NetLoop&) -> Coroutine<> {
    const std::string path = net_test::unix_path("inuse");
    // A regular file is not removed: binding fails.
    FILE* f = std::fopen(path.c_str(), "w");
    if (f) std::fclose(f);
    std::exception_ptr e;
    try {
      co_await start_unix_server([](StreamReader, StreamWriter) {}, path);
    } catch (...) {
      e = std::current_exception();
    }
    EXPECT_EXC(e, std::system_error, "[Errno 98] Address '" + path + "' is already in use");
    ::unlink(path.c_str());
  });
}
