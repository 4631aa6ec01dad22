// Talking to real peers: Python's own asyncio on loopback, byte for byte
// (issue 5, item 4). A Python asyncio client against our servers, and our
// clients against a Python asyncio server. Each Python process is bounded in
// time; the test fails (it does not hang) if Python does not finish.
#include <asyncio/streams.hpp>

#include "net_test.hpp"

#include <cstdint>
#include <string>
#include <vector>

using namespace asyncio;
using net_test::NetLoop;
using net_test::port_of;
using net_test::Python;
using net_test::run_net;

namespace {

constexpr double python_timeout = 25;

bool have_python() {
  static const bool ok = std::system("python3 -c 'import asyncio' >/dev/null 2>&1") == 0;
  return ok;
}

// The Python client: sends framed random messages (a 4-byte big-endian
// length, then the bytes), expects each back reversed; then one large
// message; then a half-close, after which the server's "bye\n" and EOF
// must follow. Prints "OK <messages> <bytes>".
const char* const framed_client = R"PY(
import asyncio, random, struct, sys

async def main(port):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    rnd = random.Random(5)
    sizes = [0, 1, 2, 255, 256, 4095, 65536, 65537, 100000] + [rnd.randrange(1, 3000) for _ in range(200)]
    sizes.append(3 * 1024 * 1024)
    total = 0
    for n in sizes:
        payload = bytes(rnd.randrange(256) for _ in range(min(n, 4096)))
        payload = (payload * (n // max(len(payload), 1) + 1))[:n]
        writer.write(struct.pack('>I', n) + payload)
        await writer.drain()
        (m,) = struct.unpack('>I', await reader.readexactly(4))
        back = await reader.readexactly(m)
        if back != payload[::-1]:
            print('MISMATCH', n, flush=True)
            sys.exit(1)
        total += n
    writer.write_eof()
    if await reader.readline() != b'bye\n' or await reader.read() != b'':
        print('NO BYE', flush=True)
        sys.exit(1)
    writer.close()
    await writer.wait_closed()
    print('OK', len(sizes), total, flush=True)

asyncio.run(main(int(sys.argv[1])))
)PY";

Coroutine<> framed_reverse_handler(StreamReader reader, StreamWriter writer) {
  for (;;) {
    std::string header;
    try {
      header = co_await reader.readexactly(4);
    } catch (const IncompleteReadError& e) {
      EXPECT_TRUE(e.partial.empty());
      break;  // the client's write_eof()
    }
    std::uint32_t n = 0;
    for (unsigned char c : header) n = (n << 8) | c;
    std::string payload = co_await reader.readexactly(n);
    std::string reversed(payload.rbegin(), payload.rend());
    writer.writelines({header, reversed});
    co_await writer.drain();
  }
  EXPECT_TRUE(reader.at_eof());
  writer.write("bye\n");
  co_await writer.drain();
  writer.close();
  co_await writer.wait_closed();
}

/// An echo protocol (the protocol API) for the Python client below.
class Echo : public Protocol {
 public:
  void connection_made(Transport& t) override { transport_ = &t; }
  void data_received(std::string_view d) override { transport_->write(d); }
  bool eof_received() override {
    // Everything is echoed once the peer is done: flush and close (a
    // transport kept half-open would keep Server.wait_closed() waiting).
    transport_->close();
    return true;
  }
  void connection_lost(std::exception_ptr) override { transport_ = nullptr; }

 private:
  Transport* transport_ = nullptr;
};

// Sends 2 MiB in random pieces, half-closes, reads everything back.
const char* const echo_client = R"PY(
import asyncio, random, sys

async def main(port):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    rnd = random.Random(9)
    data = bytes(rnd.randrange(256) for _ in range(1 << 16)) * 32
    async def send():
        i = 0
        while i < len(data):
            n = rnd.randrange(1, 70000)
            writer.write(data[i:i + n])
            await writer.drain()
            i += n
        writer.write_eof()
    sender = asyncio.create_task(send())
    back = await reader.read()
    await sender
    writer.close()
    await writer.wait_closed()
    print('OK' if back == data else 'MISMATCH %d' % len(back), flush=True)

asyncio.run(main(int(sys.argv[1])))
)PY";

// A Python asyncio server: prints its port, then per connection answers
// lines ("ECHO <line>"), a binary blob request ("BLOB <n>" → n pattern
// bytes then "\r\nEND\r\n"), and "RESET" (closes with a RST).
const char* const python_server = R"PY(
import asyncio, socket, struct, sys

def pattern(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))

async def handle(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = line.rstrip(b'\n')
            if cmd.startswith(b'ECHO '):
                writer.write(cmd[5:] + b'\n')
            elif cmd.startswith(b'BLOB '):
                writer.write(pattern(int(cmd[5:])) + b'\r\nEND\r\n')
            elif cmd == b'UPLOAD':
                (n,) = struct.unpack('>I', await reader.readexactly(4))
                body = await reader.readexactly(n)
                writer.write(b'%d %d\n' % (len(body), sum(body) & 0xFFFFFFFF))
            elif cmd == b'RESET':
                sock = writer.get_extra_info('socket')
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                writer.transport.abort()
                return
            await writer.drain()
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.sleep(30)

asyncio.run(main())
)PY";

std::string py_pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + 3) & 0xFF);
  return s;
}

}  // namespace

TEST(Interop, PythonClientAgainstOurStreamServer) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await start_server(framed_reverse_handler, "127.0.0.1", 0);
    Python py(framed_client, {std::to_string(port_of(server))});
    EXPECT_TRUE(py.started());
    const int status = co_await py.wait(python_timeout);
    EXPECT_EQ(status, 0) << py.output();
    EXPECT_EQ(py.output().rfind("OK 210 ", 0), 0u) << py.output();
    co_await net_test::close_server(server);
  });
}

TEST(Interop, PythonClientAgainstOurProtocolServer) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop&) -> Coroutine<> {
    Server server = co_await create_server(
        get_running_loop(), [] { return std::make_shared<Echo>(); }, "127.0.0.1", 0);
    Python py(echo_client, {std::to_string(port_of(server))});
    const int status = co_await py.wait(python_timeout);
    EXPECT_EQ(status, 0) << py.output();
    EXPECT_EQ(py.output(), "OK\n");
    co_await net_test::close_server(server);
  });
}

TEST(Interop, OurClientAgainstPythonServer) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  run_net([](NetLoop&) -> Coroutine<> {
    Python py(python_server, {});
    const std::string port_line = co_await py.read_line(python_timeout);
    EXPECT_FALSE(port_line.empty()) << py.output();
    if (port_line.empty()) co_return;
    const int port = std::stoi(port_line);

    // The limit bounds what readuntil() may return: the blob below is 1 MB.
    auto [reader, writer] = co_await open_connection("127.0.0.1", port, {.limit = 2 * 1024 * 1024});
    // Lines, with every byte value but '\n'.
    std::string line;
    for (int c = 0; c < 256; ++c)
      if (c != '\n') line += static_cast<char>(c);
    writer.write("ECHO " + line + "\n");
    EXPECT_EQ(co_await reader.readline(), line + "\n");
    // A large binary answer, found with readuntil; then one with several
    // separators.
    writer.write("BLOB 1000000\n");
    std::string blob = co_await reader.readuntil("\r\nEND\r\n");
    EXPECT_EQ(blob.size(), 1000000u + 7);
    EXPECT_TRUE(blob.substr(0, 1000000) == py_pattern(1000000));
    writer.write("BLOB 10\n");
    // (GCC 12 cannot keep a braced list's array across a co_await: name it.)
    const std::vector<std::string_view> separators{"\r\nEND\r\n", "\r\n"};
    EXPECT_EQ(co_await reader.readuntil(separators), py_pattern(10) + "\r\n");
    EXPECT_EQ(co_await reader.readexactly(5), "END\r\n");
    // A large upload through the write buffer and drain().
    const std::string body = net_test::pattern(3 * 1024 * 1024, 11);
    std::uint32_t sum = 0;
    for (unsigned char c : body) sum += c;
    const std::uint32_t n = static_cast<std::uint32_t>(body.size());
    std::string header{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                       static_cast<char>(n)};
    writer.writelines({"UPLOAD\n", header, body});
    co_await writer.drain();
    EXPECT_EQ(co_await reader.readline(), std::to_string(body.size()) + " " + std::to_string(sum) + "\n");
    writer.close();
    co_await writer.wait_closed();

    // A peer that resets: the read fails with ConnectionResetError.
    auto [r2, w2] = co_await open_connection("127.0.0.1", port);
    w2.write("RESET\n");
    std::exception_ptr error;
    try {
      co_await r2.read();
    } catch (...) {
      error = std::current_exception();
    }
    EXPECT_TRUE(asyncio_test::holds<std::system_error>(error));
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::connection_reset) << e.what();
    }
    // wait_closed() gives the same error.
    error = nullptr;
    try {
      co_await w2.wait_closed();
    } catch (...) {
      error = std::current_exception();
    }
    EXPECT_TRUE(asyncio_test::holds<std::system_error>(error));
    py.terminate();
    co_await py.wait(python_timeout);
  });
}
