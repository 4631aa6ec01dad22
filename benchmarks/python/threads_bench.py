"""CPython twin of asyncio_workloads' `to_thread` workload: await a no-op in
the default executor N times. Prints the bench kit's RESULT line.

usage: python3 threads_bench.py to_thread N
"""
import asyncio
import resource
import sys
import time


def noop():
    return 1


async def to_thread_roundtrip(n):
    s = 0
    for _ in range(n):
        s += await asyncio.to_thread(noop)
    return s


async def main(workload, n):
    t0 = time.perf_counter()
    if workload == "to_thread":
        check = await to_thread_roundtrip(n)
    else:
        raise SystemExit(f"unknown workload {workload}")
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"RESULT peer=python workload={workload} n={n} seconds={secs:.6f} "
          f"ops_per_s={n / secs:.0f} ns_per_op={secs * 1e9 / n:.2f} maxrss_kb={rss} check={check}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
