// asyncio-cpp: SPDX-License-Identifier: MIT
// Protocol-level subprocesses: subprocess_exec / subprocess_shell with a
// SubprocessProtocol and the SubprocessTransport. Ported from CPython
// v3.13.0 Lib/test/test_asyncio/test_events.py (SubprocessTestsMixin, with
// MySubprocessProtocol), named after its tests. CPython's children are its
// echo.py / echo2.py / echo3.py; here `cat` and /bin/sh do the same.
// Every test runs in the Subprocess fixture: no child and no descriptor
// is left behind.
#include <asyncio/locks.hpp>
#include <asyncio/subprocess.hpp>

#include "net_test.hpp"
#include "subprocess_test.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

using namespace asyncio;
using namespace subprocess_test;

namespace {

/// ≙ test_events.MySubprocessProtocol: its state checked on every call.
struct MySubprocessProtocol : SubprocessProtocol {
  std::string state = "INITIAL";
  SubprocessTransport* transport = nullptr;
  Future<> connected = get_running_loop().create_future();
  Future<> completed = get_running_loop().create_future();
  std::map<int, Future<>> disconnects;
  std::map<int, std::string> data{{1, ""}, {2, ""}};
  std::optional<int> returncode;
  std::map<int, std::shared_ptr<Event>> got_data{{1, std::make_shared<Event>()}, {2, std::make_shared<Event>()}};
  int exits = 0;

  MySubprocessProtocol() {
    for (int fd = 0; fd < 3; ++fd) disconnects.emplace(fd, get_running_loop().create_future());
  }
  void connection_made(SubprocessTransport& t) override {
    EXPECT_EQ(state, "INITIAL");
    transport = &t;
    state = "CONNECTED";
    connected.set_result();
  }
  void connection_lost(std::exception_ptr exc) override {
    EXPECT_EQ(state, "CONNECTED");
    EXPECT_FALSE(exc);
    state = "CLOSED";
    completed.set_result();
  }
  void pipe_data_received(int fd, std::string_view d) override {
    EXPECT_EQ(state, "CONNECTED");
    data[fd] += d;
    got_data[fd]->set();
  }
  void pipe_connection_lost(int fd, std::exception_ptr exc) override {
    EXPECT_EQ(state, "CONNECTED");
    if (exc)
      disconnects.at(fd).set_exception(exc);
    else
      disconnects.at(fd).set_result();
  }
  void process_exited() override {
    EXPECT_EQ(state, "CONNECTED");
    ++exits;
    returncode = transport->get_returncode();
  }
};

std::shared_ptr<MySubprocessProtocol> make_proto() { return std::make_shared<MySubprocessProtocol>(); }

/// ≙ echo2.py: stdin to stdout as "OUT:..." and to stderr as "ERR:...".
constexpr std::string_view echo2 = R"(data=$(cat); printf 'OUT:%s' "$data"; printf 'ERR:%s' "$data" >&2)";
/// ≙ echo3.py: echoes each line to stdout; once stdout is gone, reports the
/// failed write on stderr as "ERR:BrokenPipeError".
constexpr std::string_view echo3 =
    R"(trap '' PIPE; while IFS= read -r line; do printf 'OUT:%s' "$line" 2>/dev/null || { printf 'ERR:BrokenPipeError' >&2; exit 0; }; done)";

}  // namespace

TEST_F(Subprocess, test_subprocess_exec) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "cat");
    co_await proto->connected;
    EXPECT_EQ(proto->state, "CONNECTED");
    EXPECT_EQ(proto->transport, transp.get());
    transp->get_pipe_transport(0)->write("Python The Winner");
    co_await proto->got_data[1]->wait();
    transp->close();
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, -SIGKILL);  // ≙ check_killed
    EXPECT_EQ(proto->data[1], "Python The Winner");
    EXPECT_EQ(proto->exits, 1);
  });
}

TEST_F(Subprocess, test_subprocess_interactive) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "cat");
    co_await proto->connected;
    std::shared_ptr<Transport> stdin_pipe = transp->get_pipe_transport(0);
    stdin_pipe->write("Python ");
    co_await proto->got_data[1]->wait();
    proto->got_data[1]->clear();
    EXPECT_EQ(proto->data[1], "Python ");
    stdin_pipe->write("The Winner");
    co_await proto->got_data[1]->wait();
    EXPECT_EQ(proto->data[1], "Python The Winner");
    transp->close();
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, -SIGKILL);
  });
}

TEST_F(Subprocess, test_subprocess_shell) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_shell(get_running_loop(), make_proto, "echo Python");
    co_await proto->connected;
    transp->get_pipe_transport(0)->close();
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, 0);
    for (auto& [fd, f] : proto->disconnects) EXPECT_TRUE(f.done()) << fd;
    EXPECT_EQ(trim(proto->data[1]), "Python");
    EXPECT_EQ(proto->data[2], "");
    transp->close();
  });
}

TEST_F(Subprocess, test_subprocess_exitcode) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_shell(get_running_loop(), make_proto, "exit 7", SubprocessOptions{});
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, 7);
    EXPECT_EQ(transp->get_returncode(), 7);
    transp->close();
  });
}

TEST_F(Subprocess, test_subprocess_close_after_finish) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_shell(get_running_loop(), make_proto, "exit 7", SubprocessOptions{});
    EXPECT_FALSE(transp->get_pipe_transport(0));
    EXPECT_FALSE(transp->get_pipe_transport(1));
    EXPECT_FALSE(transp->get_pipe_transport(2));
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, 7);
    transp->close();
    EXPECT_TRUE(transp->is_closing());
  });
}

TEST_F(Subprocess, test_subprocess_kill) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "cat");
    co_await proto->connected;
    transp->kill();
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, -SIGKILL);
    transp->close();
  });
}

TEST_F(Subprocess, test_subprocess_terminate) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "cat");
    co_await proto->connected;
    transp->terminate();
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, -SIGTERM);
    transp->close();
  });
}

TEST_F(Subprocess, test_subprocess_send_signal) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "cat");
    co_await proto->connected;
    transp->send_signal(SIGHUP);
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, -SIGHUP);
    // Collected: the pid is not signalled again (≙ ProcessLookupError).
    EXPECT_TRUE(has_errc(asyncio_test::capture([&] { transp->send_signal(SIGHUP); }), std::errc::no_such_process));
    transp->close();
  });
}

TEST_F(Subprocess, test_subprocess_stderr) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "/bin/sh", "-c", echo2);
    co_await proto->connected;
    std::shared_ptr<Transport> stdin_pipe = transp->get_pipe_transport(0);
    stdin_pipe->write("test");
    stdin_pipe->close();
    co_await proto->completed;
    transp->close();
    EXPECT_EQ(proto->data[1], "OUT:test");
    EXPECT_EQ(proto->data[2].rfind("ERR:test", 0), 0u) << proto->data[2];
    EXPECT_EQ(proto->returncode, 0);
  });
}

TEST_F(Subprocess, test_subprocess_stderr_redirect_to_stdout) {
  run([]() -> Coroutine<> {
    const SubprocessOptions options{.stdin_ = PIPE, .stdout_ = PIPE, .stderr_ = STDOUT};
    auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "/bin/sh", "-c", echo2, options);
    co_await proto->connected;
    std::shared_ptr<Transport> stdin_pipe = transp->get_pipe_transport(0);
    EXPECT_TRUE(transp->get_pipe_transport(1));
    EXPECT_FALSE(transp->get_pipe_transport(2));
    stdin_pipe->write("test");
    stdin_pipe->close();
    co_await proto->completed;
    EXPECT_EQ(proto->data[1].rfind("OUT:testERR:test", 0), 0u) << proto->data[1];
    EXPECT_EQ(proto->data[2], "");
    transp->close();
    EXPECT_EQ(proto->returncode, 0);
  });
}

TEST_F(Subprocess, test_subprocess_close_client_stream) {
  run([]() -> Coroutine<> {
    auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "/bin/sh", "-c", echo3);
    co_await proto->connected;
    std::shared_ptr<Transport> stdin_pipe = transp->get_pipe_transport(0);
    std::shared_ptr<Transport> stdout_pipe = transp->get_pipe_transport(1);
    stdin_pipe->write("test\n");
    co_await proto->got_data[1]->wait();
    EXPECT_EQ(proto->data[1], "OUT:test");
    stdout_pipe->close();
    co_await proto->disconnects[1];
    stdin_pipe->write("xxx\n");
    co_await proto->got_data[2]->wait();
    EXPECT_EQ(proto->data[2], "ERR:BrokenPipeError");
    transp->close();
    co_await proto->completed;
  });
}

TEST_F(Subprocess, test_subprocess_wait_no_same_group) {
  run([]() -> Coroutine<> {
    const SubprocessOptions options{.start_new_session = true};
    auto [transp, proto] = co_await subprocess_shell(get_running_loop(), make_proto, "exit 7", options);
    co_await proto->completed;
    EXPECT_EQ(proto->returncode, 7);
    transp->close();
  });
}

TEST_F(Subprocess, test_subprocess_exec_missing_program) {
  // The spawn error, as create_subprocess_exec's; no protocol callback.
  run([]() -> Coroutine<> {
    std::shared_ptr<MySubprocessProtocol> made;
    auto factory = [&made] { return made = make_proto(); };
    auto e = co_await asyncio_test::raises(subprocess_exec(get_running_loop(), factory, "/nonexistent/prog"));
    EXPECT_TRUE(has_errc(e, std::errc::no_such_file_or_directory)) << what(e);
    CO_ASSERT_TRUE(made);
    EXPECT_EQ(made->state, "INITIAL");
  });
}

TEST_F(Subprocess, ProtocolOrderPipesThenExitThenConnectionLost) {
  // Every pipe_connection_lost() and process_exited() come before
  // connection_lost(), which comes once.
  run([]() -> Coroutine<> {
    struct Order : SubprocessProtocol {
      std::vector<std::string> calls;
      Future<> done = get_running_loop().create_future();
      void connection_made(SubprocessTransport&) override { calls.push_back("made"); }
      void pipe_connection_lost(int fd, std::exception_ptr) override { calls.push_back("pipe" + std::to_string(fd)); }
      void process_exited() override { calls.push_back("exited"); }
      void connection_lost(std::exception_ptr) override {
        calls.push_back("lost");
        done.set_result();
      }
    };
    auto [transp, proto] =
        co_await subprocess_shell(get_running_loop(), [] { return std::make_shared<Order>(); }, "exec 0<&-; echo hi");
    co_await proto->done;
    CO_ASSERT_EQ(proto->calls.size(), 6u);
    EXPECT_EQ(proto->calls.front(), "made");
    EXPECT_EQ(proto->calls.back(), "lost");
    for (const char* c : {"pipe0", "pipe1", "pipe2", "exited"})
      EXPECT_EQ(std::count(proto->calls.begin(), proto->calls.end(), c), 1) << c;
    EXPECT_FALSE(transp->get_protocol());  // let go after connection_lost()
  });
}

TEST_F(Subprocess, ClosedLoopKillsAndReapsAProtocolChild) {
  // A child left running at loop close is killed and collected; its
  // protocol hears nothing more (the fixture checks no child is left).
  std::shared_ptr<SubprocessTransport> kept;
  {
    asyncio_test::TestLoop t(false);
    t.loop.run_until_complete([&]() -> Coroutine<> {
      auto [transp, proto] = co_await subprocess_exec(get_running_loop(), make_proto, "cat");
      kept = transp;
    }());
    t.loop.close();
  }
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->get_returncode(), -SIGKILL);
  EXPECT_FALSE(kept->get_protocol());
}
