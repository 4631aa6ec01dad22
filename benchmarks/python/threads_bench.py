"""CPython twin of asyncio_workloads' `to_thread` workload: await a no-op in
the default executor N times. Prints the bench kit's RESULT line.

usage: python3 threads_bench.py to_thread N [uvloop]
"""
import asyncio

import bench_main


def noop():
    return 1


async def to_thread_roundtrip(n):
    s = 0
    for _ in range(n):
        s += await asyncio.to_thread(noop)
    return s


if __name__ == "__main__":
    bench_main.main({"to_thread": to_thread_roundtrip})
