#!/usr/bin/env python3
"""UDP echo server on 127.0.0.1 for the UDP echo benchmark.

usage: python3 udp_echo_server.py PORT [asyncio|uvloop]

PORT 0 picks an ephemeral port. Prints "PORT <n>" (flushed) once bound and
exits cleanly on SIGTERM or SIGINT.
"""
import asyncio
import signal
import sys


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)

    def error_received(self, exc):
        print(f"udp_echo_server: {exc}", file=sys.stderr)


async def serve(port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", port))
    try:
        print(f"PORT {transport.get_extra_info('sockname')[1]}", flush=True)
        await stop
    finally:
        transport.close()


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in ("asyncio", "uvloop")):
        print("usage: udp_echo_server.py PORT [asyncio|uvloop]", file=sys.stderr)
        return 2
    try:
        port = int(sys.argv[1])
    except ValueError:
        print(f"udp_echo_server: bad port {sys.argv[1]!r}", file=sys.stderr)
        return 2
    mode = sys.argv[2] if len(sys.argv) == 3 else "asyncio"
    if mode == "uvloop":
        try:
            import uvloop
        except ImportError:
            print(f"udp_echo_server: uvloop mode needs the uvloop module, which {sys.executable} "
                  "cannot import (apt-get install python3-uvloop for /usr/bin/python3)", file=sys.stderr)
            return 2
        uvloop.install()
    asyncio.run(serve(port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
