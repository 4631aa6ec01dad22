"""The command line and RESULT line the Python twins of asyncio_workloads
share: `python3 SCRIPT.py WORKLOAD N [uvloop]`, timing the workload inside
the loop as the C++ side does."""
import asyncio
import resource
import sys
import time


async def _timed(workloads, workload, n):
    if workload not in workloads:
        raise SystemExit(f"unknown workload {workload}")
    t0 = time.perf_counter()
    check = await workloads[workload](n)
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"RESULT peer=python workload={workload} n={n} seconds={secs:.6f} "
          f"ops_per_s={n / secs:.0f} ns_per_op={secs * 1e9 / n:.2f} maxrss_kb={rss} check={check}")


def main(workloads):
    """Runs the workload named on the command line; `uvloop` as a third
    argument runs it on uvloop instead of asyncio's own loop."""
    if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
        import uvloop
        uvloop.install()
    asyncio.run(_timed(workloads, sys.argv[1], int(sys.argv[2])))
