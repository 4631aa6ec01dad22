"""CPython twin of asyncio_workloads' `pipe_throughput` workload: N MiB
through `cat` (stdin and stdout pipes), written in 64 KiB chunks with
drain() while a task reads to EOF. ops = MiB, so ops_per_s is MiB/s.
`pipe_throughput_256k` asks for pipes of 256 KiB (Popen's `pipesize`).
Prints the bench kit's RESULT line.

usage: python3 subprocess_bench.py pipe_throughput|pipe_throughput_256k N [uvloop]
"""
import asyncio

import bench_main
from asyncio.subprocess import PIPE


async def pump_in(stdin, mib):
    chunk = b"x" * (64 * 1024)
    for _ in range(mib * 16):
        stdin.write(chunk)
        await stdin.drain()
    stdin.close()
    return 0


async def pump_out(stdout):
    total = 0
    while True:
        data = await stdout.read(64 * 1024)
        if not data:
            return total
        total += len(data)


async def pipe_throughput(mib, pipesize=-1):
    kw = {"pipesize": pipesize} if pipesize > 0 else {}
    cat = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE, **kw)
    sent, received = await asyncio.gather(pump_in(cat.stdin, mib), pump_out(cat.stdout))
    rc = await cat.wait()
    return sent + received if rc == 0 else -1


if __name__ == "__main__":
    bench_main.main({
        "pipe_throughput": pipe_throughput,
        "pipe_throughput_256k": lambda mib: pipe_throughput(mib, 256 * 1024),
    })
