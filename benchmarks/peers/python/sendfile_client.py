"""sendfile benchmark, Python side (benchmarks/peers/sendfile.sh).

    python3 sendfile_client.py asyncio|uvloop FILE PORT

Sends FILE to 127.0.0.1:PORT with loop.sendfile() over a stream transport:
CPython's selector loop uses os.sendfile (zero-copy). uvloop (0.17) has no
loop.sendfile at all (AbstractEventLoop's NotImplementedError), so there
the file goes the way a uvloop user sends it: read() blocks of 256 KiB,
writer.write() and drain(). Prints the RESULT line of sendfile_client.cpp.
"""
import asyncio
import resource
import sys
import time


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def read_write(f, writer):
    sent = 0
    while block := f.read(256 * 1024):
        writer.write(block)
        await writer.drain()
        sent += len(block)
    return sent


async def main(path, port):
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    with open(path, 'rb') as f:
        t0, c0 = time.monotonic(), cpu()
        try:
            sent = await loop.sendfile(writer.transport, f)
        except NotImplementedError:
            sent = await read_write(f, writer)
        writer.close()
        await writer.wait_closed()
        seconds, used = time.monotonic() - t0, cpu() - c0
    gib = sent / (1 << 30)
    print(f"RESULT peer={sys.argv[1]} bytes={sent} seconds={seconds:.3f} "
          f"gib_per_s={gib / seconds:.2f} cpu_s_per_gib={used / gib:.3f}")


if __name__ == '__main__':
    if sys.argv[1] == 'uvloop':
        import uvloop
        uvloop.install()
    asyncio.run(main(sys.argv[2], int(sys.argv[3])))
