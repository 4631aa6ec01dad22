#!/usr/bin/env bash
# sendfile benchmark: one file sent over TCP loopback to a C sink, by
#   asyncio_cpp_sendfile   our loop.sendfile() (sendfile(2), zero-copy)
#   asyncio_cpp_readwrite  our read()/write() loop (StreamWriter write + drain)
#   asyncio                CPython 3.13's loop.sendfile (os.sendfile)
#   uvloop                 uvloop: no loop.sendfile (0.17), so a read/write+drain loop
# Prints each sender's RESULT line (throughput, and CPU seconds the sender
# spent per GiB), RUNS times, interleaved.
#
# usage: benchmarks/peers/sendfile.sh [BUILD_DIR]   (default build/gcc; needs asyncio_sendfile_client)
# env: SIZE_MIB (1024)  RUNS (3)  PYTHON (python3 with 3.13 if pyenv has it)
#      UVLOOP_PYTHON (PYTHON if it imports uvloop, else /usr/bin/python3)
#      SENDERS (default "asyncio_cpp_sendfile asyncio_cpp_readwrite asyncio uvloop")
# A sender whose runtime is missing (uvloop not importable) is skipped with a message.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS="$ROOT/benchmarks/peers"
BUILD_DIR="${1:-$ROOT/build/gcc}"
SIZE_MIB="${SIZE_MIB:-1024}"
RUNS="${RUNS:-3}"
SENDERS="${SENDERS:-asyncio_cpp_sendfile asyncio_cpp_readwrite asyncio uvloop}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13.0/bin/python3" ]; then
        PYTHON="${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13.0/bin/python3"
    else
        PYTHON=python3
    fi
fi
CLIENT="$BUILD_DIR/benchmarks/asyncio_sendfile_client"
[ -x "$CLIENT" ] || { echo "sendfile.sh: $CLIENT not built (cmake --build $BUILD_DIR --target asyncio_sendfile_client)" >&2; exit 2; }

WORK="$(mktemp -d /tmp/sendfile_bench.XXXXXX)"
trap 'kill "$SINK_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
cc -O2 -o "$WORK/sink" "$PEERS/tools/sink.c" || { echo "sendfile.sh: cannot build the sink" >&2; exit 2; }
# A real file (not sparse), read once so that every sender reads it from the page cache.
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/file"
cat "$WORK/file" > /dev/null

"$WORK/sink" > "$WORK/sink.out" 2> "$WORK/sink.err" &
SINK_PID=$!
for _ in $(seq 50); do grep -q PORT "$WORK/sink.out" 2>/dev/null && break; sleep 0.1; done
PORT="$(sed -n 's/^PORT //p' "$WORK/sink.out")"

declare -A CMD=()
CMD[asyncio_cpp_sendfile]="$CLIENT sendfile"
CMD[asyncio_cpp_readwrite]="$CLIENT readwrite"
CMD[asyncio]="$PYTHON $PEERS/python/sendfile_client.py asyncio"
# uvloop: Debian's python3-uvloop is for /usr/bin/python3 (3.11) only.
UVLOOP_PYTHON="${UVLOOP_PYTHON:-$PYTHON}"
"$UVLOOP_PYTHON" -c 'import uvloop' 2>/dev/null || UVLOOP_PYTHON=/usr/bin/python3
if "$UVLOOP_PYTHON" -c 'import uvloop' 2>/dev/null; then
    CMD[uvloop]="$UVLOOP_PYTHON $PEERS/python/sendfile_client.py uvloop"
else
    echo "# uvloop: skipped ($PYTHON and /usr/bin/python3 cannot import uvloop; apt-get install python3-uvloop)"
fi

echo "# file: $SIZE_MIB MiB, sink: $WORK/sink on 127.0.0.1:$PORT, $(nproc) CPUs"
for run in $(seq "$RUNS"); do
    for s in $SENDERS; do
        [ -n "${CMD[$s]:-}" ] || continue
        ${CMD[$s]} "$WORK/file" "$PORT" || echo "# $s: failed (run $run)"
    done
done
