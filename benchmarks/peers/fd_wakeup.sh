#!/usr/bin/env bash
# add_reader() wake-up cost beside libuv C's uv_poll: a byte bounced over a
# socket pair, each end a reader (asyncio_fd_wakeup) or a uv_poll_t
# (peers/libuv/poll_pingpong.c); RUNS interleaved runs of N round trips.
#
# usage: benchmarks/peers/fd_wakeup.sh [BUILD_DIR]   (default build/gcc; needs asyncio_fd_wakeup)
# env: N (200000)  RUNS (3)  GRIND=1: callgrind instructions per wake-up instead (N=20000)
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${1:-$ROOT/build/gcc}"
N="${N:-200000}"
RUNS="${RUNS:-3}"
OURS="$BUILD_DIR/benchmarks/asyncio_fd_wakeup"
[ -x "$OURS" ] || { echo "fd_wakeup.sh: $OURS not built (cmake --build $BUILD_DIR --target asyncio_fd_wakeup)" >&2; exit 2; }
WORK="$(mktemp -d /tmp/fd_wakeup.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cc -O2 -Wall -Wextra -o "$WORK/poll_pingpong" "$ROOT/benchmarks/peers/libuv/poll_pingpong.c" -luv ||
    { echo "fd_wakeup.sh: cannot build the libuv peer (libuv1-dev)" >&2; exit 2; }
if [ "${GRIND:-0}" = 1 ]; then
    N="${N_GRIND:-20000}"
    for p in "$OURS" "$WORK/poll_pingpong"; do
        valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$p" "$N" > /dev/null 2>&1
        ir=$(sed -n 's/^summary: //p' "$WORK/cg.out")
        echo "$(basename "$p"): $ir instructions, $((ir / (2 * N))) per wake-up (N=$N)"
    done
    exit 0
fi
for _ in $(seq "$RUNS"); do
    "$OURS" "$N"
    "$WORK/poll_pingpong" "$N"
done
