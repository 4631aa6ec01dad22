"""CPython twin of asyncio_workloads' `pipe_throughput` workload: N MiB
through `cat` (stdin and stdout pipes), written in 64 KiB chunks with
drain() while a task reads to EOF. ops = MiB, so ops_per_s is MiB/s.
Prints the bench kit's RESULT line.

usage: python3 subprocess_bench.py pipe_throughput N
"""
import asyncio
import resource
import sys
import time
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


async def pipe_throughput(mib):
    cat = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)
    sent, received = await asyncio.gather(pump_in(cat.stdin, mib), pump_out(cat.stdout))
    rc = await cat.wait()
    return sent + received if rc == 0 else -1


async def main(workload, n):
    t0 = time.perf_counter()
    if workload == "pipe_throughput":
        check = await pipe_throughput(n)
    else:
        raise SystemExit(f"unknown workload {workload}")
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"RESULT peer=python workload={workload} n={n} seconds={secs:.6f} "
          f"ops_per_s={n / secs:.0f} ns_per_op={secs * 1e9 / n:.2f} maxrss_kb={rss} check={check}")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
        import uvloop
        uvloop.install()
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
