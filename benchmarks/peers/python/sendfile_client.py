"""sendfile benchmark, Python side (benchmarks/peers/sendfile.sh).

    python3 sendfile_client.py asyncio|uvloop FILE PORT

Sends FILE to 127.0.0.1:PORT with loop.sendfile() over a stream transport:
CPython's selector loop uses os.sendfile (zero-copy); uvloop's transports
have no native sendfile, so loop.sendfile takes asyncio's read/write
fallback. Prints the RESULT line of sendfile_client.cpp.
"""
import asyncio
import resource
import sys
import time


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(path, port):
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    with open(path, 'rb') as f:
        t0, c0 = time.monotonic(), cpu()
        sent = await loop.sendfile(writer.transport, f)
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
