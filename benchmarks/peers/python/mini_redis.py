"""mini-redis's Python twin: the same RESP2 server on asyncio (or uvloop).

    python3 mini_redis.py [--uvloop] PORT     (PORT 0: any free port, printed)

One loop (a Python program would use processes for more). Same commands,
replies and errors as examples/mini_redis; runs until SIGINT or SIGTERM,
then exits 0. Checked by examples/mini_redis/test_mini_redis.py --python.
"""
import asyncio
import signal
import sys
import time

MAX_BULK = 512 * 1024 * 1024
MAX_MULTIBULK = 1024 * 1024


class ProtocolError(Exception):
    pass


def header_int(line):
    digits = line[1:-2]
    try:
        if not digits or not digits.lstrip(b"-").isdigit() or digits.count(b"-") > (digits[:1] == b"-"):
            raise ValueError
        return int(digits)
    except ValueError:
        return None


async def read_command(reader):
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.IncompleteReadError as e:
            if not e.partial:
                return None
            raise
        if line[:1] != b"*":
            words = line.split()
            if words:
                return words
            continue
        n = header_int(line)
        if n is None or n > MAX_MULTIBULK:
            raise ProtocolError("invalid multibulk length")
        if n <= 0:
            continue
        args = []
        for _ in range(n):
            header = await reader.readuntil(b"\r\n")
            if header[:1] != b"$":
                c = header[0]
                shown = chr(c) if 0x20 <= c < 0x7f else f"\\x{c:02x}"
                raise ProtocolError(f"expected '$', got '{shown}'")
            size = header_int(header)
            if size is None or size < 0 or size > MAX_BULK:
                raise ProtocolError("invalid bulk length")
            data = await reader.readexactly(size + 2)
            if data[-2:] != b"\r\n":
                raise ProtocolError("expected CRLF after bulk string")
            args.append(data[:-2])
        return args


def simple(s): return b"+" + s + b"\r\n"
def error(s): return b"-" + s.encode() + b"\r\n"
def integer(v): return b":%d\r\n" % v
def bulk(s): return b"$%d\r\n%s\r\n" % (len(s), s)
NIL = b"$-1\r\n"
def array(n): return b"*%d\r\n" % n

NOT_INT = "ERR value is not an integer or out of range"
I64 = (-(1 << 63), (1 << 63) - 1)


def as_int(b):
    try:
        v = int(b)
    except ValueError:
        return None
    if not (I64[0] <= v <= I64[1]) or b != str(v).encode():
        return None
    return v


class Store:
    def __init__(self):
        self.map = {}  # key -> [value, expires (monotonic seconds) or None]

    def find(self, key):
        e = self.map.get(key)
        if e is not None and e[1] is not None and e[1] <= time.monotonic():
            del self.map[key]
            return None
        return e

    def execute(self, args):
        name = args[0].lower()
        key = args[1]
        if name == b"get":
            e = self.find(key)
            return bulk(e[0]) if e else NIL
        if name == b"set":
            return self.set(args)
        if name == b"del":
            return integer(1 if self.find(key) and self.map.pop(key) else 0)
        if name == b"exists":
            return integer(1 if self.find(key) else 0)
        if name in (b"incr", b"decr"):
            e = self.find(key)
            v = 0
            if e:
                v = as_int(e[0])
                if v is None:
                    return error(NOT_INT)
            v += 1 if name == b"incr" else -1
            if not (I64[0] <= v <= I64[1]):
                return error("ERR increment or decrement would overflow")
            if e:
                e[0] = str(v).encode()
            else:
                self.map[key] = [str(v).encode(), None]
            return integer(v)
        if name == b"expire":
            seconds = as_int(args[2])
            if seconds is None:
                return error(NOT_INT)
            e = self.find(key)
            if not e:
                return integer(0)
            if seconds <= 0:
                del self.map[key]
            else:
                e[1] = time.monotonic() + seconds
            return integer(1)
        if name == b"ttl":
            e = self.find(key)
            if not e:
                return integer(-2)
            if e[1] is None:
                return integer(-1)
            return integer(int((e[1] - time.monotonic()) * 1000 + 500) // 1000)
        raise AssertionError(name)

    def set(self, args):
        nx = xx = False
        ttl = None
        i = 3
        while i < len(args):
            opt = args[i].lower()
            if opt == b"nx" and not xx:
                nx = True
            elif opt == b"xx" and not nx:
                xx = True
            elif opt in (b"ex", b"px") and ttl is None and i + 1 < len(args):
                i += 1
                v = as_int(args[i])
                if v is None:
                    return error(NOT_INT)
                if v <= 0 or v > I64[1] // 1000:
                    return error("ERR invalid expire time in 'set' command")
                ttl = v if opt == b"ex" else v / 1000
            else:
                return error("ERR syntax error")
            i += 1
        e = self.find(args[1])
        if (nx and e) or (xx and not e):
            return NIL
        self.map[args[1]] = [args[2], None if ttl is None else time.monotonic() + ttl]
        return simple(b"OK")


STORE = Store()
CHANNELS = {}  # channel -> set of subscriber queues


def wrong_args(name):
    return error(f"ERR wrong number of arguments for '{name.decode()}' command")


class Connection:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.inbox = None
        self.channels = set()
        self.forwarder = None
        self.quit = False

    async def forward(self):
        while True:
            ch, msg = await self.inbox.get()
            self.writer.write(array(3) + bulk(b"message") + bulk(ch) + bulk(msg))

    def leave(self, ch):
        self.channels.discard(ch)
        subs = CHANNELS.get(ch)
        if subs is not None:
            subs.discard(self.inbox)
            if not subs:
                del CHANNELS[ch]

    def dispatch(self, args):
        name = args[0].lower()
        n = len(args)
        if name == b"ping":
            if n > 2:
                return wrong_args(name)
            return simple(b"PONG") if n == 1 else bulk(args[1])
        if name == b"echo":
            return wrong_args(name) if n != 2 else bulk(args[1])
        if name in (b"get", b"incr", b"decr", b"ttl"):
            return wrong_args(name) if n != 2 else STORE.execute(args)
        if name == b"expire":
            return wrong_args(name) if n != 3 else STORE.execute(args)
        if name == b"set":
            return wrong_args(name) if n < 3 else STORE.execute(args)
        if name in (b"del", b"exists"):
            if n < 2:
                return wrong_args(name)
            return integer(sum(int(STORE.execute([name, k])[1:-2]) for k in args[1:]))
        if name == b"mget":
            if n < 2:
                return wrong_args(name)
            return array(n - 1) + b"".join(STORE.execute([b"get", k]) for k in args[1:])
        if name == b"mset":
            if n < 3 or n % 2 == 0:
                return wrong_args(name)
            for i in range(1, n, 2):
                STORE.execute([b"set", args[i], args[i + 1]])
            return simple(b"OK")
        if name == b"publish":
            if n != 3:
                return wrong_args(name)
            subs = CHANNELS.get(args[1], ())
            for q in subs:
                q.put_nowait((args[1], args[2]))
            return integer(len(subs))
        if name == b"subscribe":
            if n < 2:
                return wrong_args(name)
            if self.forwarder is None:
                self.inbox = asyncio.Queue()
                self.forwarder = asyncio.create_task(self.forward())
            out = b""
            for ch in args[1:]:
                self.channels.add(ch)
                CHANNELS.setdefault(ch, set()).add(self.inbox)
                out += array(3) + bulk(b"subscribe") + bulk(ch) + integer(len(self.channels))
            return out
        if name == b"unsubscribe":
            out = b""
            for ch in (args[1:] or list(self.channels)):
                self.leave(ch)
                out += array(3) + bulk(b"unsubscribe") + bulk(ch) + integer(len(self.channels))
            return out
        if name == b"config" and n == 3 and args[1].lower() == b"get":
            return array(2) + bulk(args[2]) + bulk(b"")
        if name == b"command":
            return array(0)
        if name == b"quit":
            self.quit = True
            return simple(b"OK")
        rest = "".join(f"'{a.decode('latin-1')}' " for a in args[1:])
        return error(f"ERR unknown command '{args[0].decode('latin-1')}', with args beginning with: {rest}")

    async def serve(self):
        failure = None
        out = []
        try:
            out = []
            while not self.quit:
                cmd = await read_command(self.reader)
                if cmd is None:
                    break
                out.append(self.dispatch(cmd))
                # Pipelining: while more commands are already buffered, the
                # replies wait and go out in one write (as mini_redis.cpp).
                if not self.reader._buffer or len(out) > 1024:
                    self.writer.write(b"".join(out))
                    out.clear()
                    await self.writer.drain()
        except ProtocolError as e:
            failure = f"ERR Protocol error: {e}"
        except asyncio.LimitOverrunError:
            failure = "ERR Protocol error: too big inline request"
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if out and not self.writer.is_closing():
            self.writer.write(b"".join(out))
        for ch in list(self.channels):
            self.leave(ch)
        if self.forwarder:
            self.forwarder.cancel()
        if failure:
            self.writer.write(error(failure))
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def serve_client(reader, writer):
    await Connection(reader, writer).serve()


async def main(port):
    server = await asyncio.start_server(serve_client, "127.0.0.1", port)
    print(f"mini_redis: listening on 127.0.0.1:{server.sockets[0].getsockname()[1]} (1 shard)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    argv = sys.argv[1:]
    use_uvloop = "--uvloop" in argv
    argv = [a for a in argv if a != "--uvloop"]
    if len(argv) != 1:
        sys.exit(__doc__)
    if use_uvloop:
        import uvloop
        if hasattr(uvloop, "run"):  # uvloop 0.18+
            uvloop.run(main(int(argv[0])))
        else:  # uvloop 0.17 (Debian 12's python3-uvloop, for /usr/bin/python3 3.11)
            uvloop.install()
            asyncio.run(main(int(argv[0])))
    else:
        asyncio.run(main(int(argv[0])))
