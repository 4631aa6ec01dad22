#!/usr/bin/env bash
# UDP echo benchmark: several UDP echo servers, one load generator.
#
# usage: benchmarks/peers/udp_echo.sh [name=command ...]
#   e.g. benchmarks/peers/udp_echo.sh asyncio_cpp="build/rel/benchmarks/asyncio_udp_echo_server protocol"
# Each extra command is run from the repo root with the port appended (0), and
# must print "PORT <n>" on stdout once bound and exit on SIGTERM.
#
# Needs: scripts/deps.sh --bench (cargo + tokio crates, python3-uvloop); a peer whose
# toolchain is missing is skipped with a message.
# env: BUILD (default <repo>/build/udp-peers)   SERVERS (default "libuv tokio asyncio uvloop")
#      CLIENTS (50)  SIZE (100)  SECONDS (5)  WARMUP (1)  RUNS (3, interleaved)
#      PYTHON (default /usr/bin/python3 if present, else python3)
#      GRIND=1: callgrind instructions per datagram instead (GRIND_SHORT=2, GRIND_LONG=6 s)
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS="$ROOT/benchmarks/peers"
# SECONDS is a bash special variable (it counts up): take it from the
# environment this script was started with.
DURATION="$(tr '\0' '\n' < /proc/$$/environ | sed -n 's/^SECONDS=//p' | head -n1)"
DURATION="${DURATION:-5}"
BUILD="${BUILD:-$ROOT/build/udp-peers}"
SERVERS="${SERVERS:-libuv tokio asyncio uvloop}"
CLIENTS="${CLIENTS:-50}"
SIZE="${SIZE:-100}"
WARMUP="${WARMUP:-1}"
RUNS="${RUNS:-3}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

for v in DURATION CLIENTS SIZE WARMUP RUNS; do
    case "${!v}" in ''|*[!0-9]*) echo "udp_echo.sh: $v must be a number, got '${!v}'" >&2; exit 2;; esac
done

mkdir -p "$BUILD" || exit 2
CFLAGS="-O2 -Wall -Wextra"

echo "# building load generator"
timeout 120 cc $CFLAGS -o "$BUILD/udp_echo_client" "$PEERS/tools/udp_echo_client.c" || {
    echo "udp_echo.sh: cannot build the load generator" >&2; exit 2; }

declare -A CMD=()      # name -> command (port is appended)
declare -A SKIP=()     # name -> reason

if timeout 120 cc $CFLAGS -o "$BUILD/libuv_udp_echo_server" "$PEERS/libuv/udp_echo_server.c" -luv; then
    CMD[libuv]="$BUILD/libuv_udp_echo_server"
else
    SKIP[libuv]="libuv (uv.h / -luv, libuv1-dev) not available"
fi

if command -v cargo >/dev/null 2>&1; then
    echo "# building tokio peer"
    if (cd "$PEERS/tokio" && CARGO_TARGET_DIR="$BUILD/tokio" timeout 600 cargo build --release --offline --quiet); then
        CMD[tokio]="$BUILD/tokio/release/udp_echo_server"
    else
        SKIP[tokio]="cargo build failed (needs librust-tokio-dev for the offline build)"
    fi
else
    SKIP[tokio]="cargo not found"
fi

if command -v "$PYTHON" >/dev/null 2>&1; then
    CMD[asyncio]="$PYTHON $PEERS/python/udp_echo_server.py"
    if timeout 20 "$PYTHON" -c 'import uvloop' 2>/dev/null; then
        CMD[uvloop]="$PYTHON $PEERS/python/udp_echo_server.py"
    else
        SKIP[uvloop]="$PYTHON cannot import uvloop (apt-get install python3-uvloop)"
    fi
else
    SKIP[asyncio]="$PYTHON not found"
    SKIP[uvloop]="$PYTHON not found"
fi

NAMES=()
for s in $SERVERS; do NAMES+=("$s"); done
for arg in "$@"; do
    case "$arg" in
        *=*) name="${arg%%=*}"; CMD[$name]="${arg#*=}"; NAMES+=("$name");;
        *) echo "udp_echo.sh: argument must be name=command, got '$arg'" >&2; exit 2;;
    esac
done

# the port argument: the python script takes its loop flavour after it
server_args() {
    case "$1" in
        asyncio) echo "0 asyncio";;
        uvloop) echo "0 uvloop";;
        *) echo "0";;
    esac
}

SRV_TPID=""
SRV_PID=""
stop_server() {
    [ -n "$SRV_TPID" ] || return 0
    [ -n "$SRV_PID" ] && kill -TERM "$SRV_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SRV_TPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SRV_TPID" 2>/dev/null; then
        echo "udp_echo.sh: server did not exit on SIGTERM, killing it" >&2
        [ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null
        kill -KILL "$SRV_TPID" 2>/dev/null
    fi
    wait "$SRV_TPID" 2>/dev/null
    SRV_TPID=""
    SRV_PID=""
}
trap 'stop_server' EXIT
trap 'exit 130' INT TERM

SUMMARY="$BUILD/udp_echo_results.txt"
: > "$SUMMARY"
LIMIT=$((WARMUP + DURATION + 60))   # upper bound for one server's lifetime
status=0

for s in "${NAMES[@]}"; do
    if [ -n "${SKIP[$s]:-}" ]; then echo "SKIP $s: ${SKIP[$s]}"; fi
    if [ -z "${CMD[$s]:-}" ] && [ -z "${SKIP[$s]:-}" ]; then
        echo "SKIP $s: unknown server (give it as $s=command)"; SKIP[$s]="unknown"
    fi
done

# One measured run of server $1 for $2 seconds after $3 s of warm-up, the
# server command prefixed by $4 (GRIND: valgrind). Prints the client's
# RESULT line; sets LINE (and IR, the server's callgrind total, under GRIND).
run_one() {
    local s=$1 duration=$2 warmup=$3 prefix=$4
    local out="$BUILD/server_$s.out" err="$BUILD/server_$s.err"
    : > "$out"
    LINE="" IR=""
    # shellcheck disable=SC2086  # the command is word-split on purpose
    (cd "$ROOT" && exec timeout -s KILL "$LIMIT" $prefix ${CMD[$s]} $(server_args "$s")) > "$out" 2> "$err" &
    SRV_TPID=$!
    local port=""
    for _ in $(seq 300); do   # up to 30 s for "PORT n" (valgrind starts slowly)
        port="$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$out" | head -n1)"
        [ -n "$port" ] && break
        kill -0 "$SRV_TPID" 2>/dev/null || break
        sleep 0.1
    done
    SRV_PID="$(pgrep -P "$SRV_TPID" | head -n1)"
    echo "SERVER $s"
    if [ -z "$port" ] || [ -z "$SRV_PID" ]; then
        echo "FAIL $s: no 'PORT n' line from the server; stderr:" >&2
        head -n 20 "$err" >&2
        stop_server; return 1
    fi
    if ! LINE="$(timeout $((warmup + duration + 30)) "$BUILD/udp_echo_client" "$port" \
            --clients "$CLIENTS" --size "$SIZE" --warmup "$warmup" --seconds "$duration" \
            --server-pid "$SRV_PID")"; then
        echo "FAIL $s: load generator failed" >&2
        stop_server; return 1
    fi
    echo "$LINE"
    stop_server
    IR="$(sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$err" | tail -n1)"
}

if [ "${GRIND:-0}" = 1 ]; then
    # Instructions per datagram, the steady figure: callgrind totals of two
    # runs without warm-up, GRIND_SHORT and GRIND_LONG seconds, differenced
    # (start-up and shutdown cancel out) and divided by the extra round trips.
    command -v valgrind >/dev/null 2>&1 || { echo "udp_echo.sh: GRIND=1 needs valgrind" >&2; exit 2; }
    GRIND_SHORT="${GRIND_SHORT:-2}" GRIND_LONG="${GRIND_LONG:-6}"
    LIMIT=$((GRIND_LONG + 120))
    for s in "${NAMES[@]}"; do
        [ -n "${SKIP[$s]:-}" ] && continue
        run_one "$s" "$GRIND_SHORT" 0 "valgrind --tool=callgrind --callgrind-out-file=/dev/null" || { status=1; continue; }
        ir1=$IR rt1="$(sed -n 's/.*round_trips=\([0-9]*\).*/\1/p' <<< "$LINE")"
        run_one "$s" "$GRIND_LONG" 0 "valgrind --tool=callgrind --callgrind-out-file=/dev/null" || { status=1; continue; }
        ir2=$IR rt2="$(sed -n 's/.*round_trips=\([0-9]*\).*/\1/p' <<< "$LINE")"
        if [ -n "$ir1" ] && [ -n "$ir2" ] && [ "$rt2" -gt "$rt1" ]; then
            echo "GRIND $s ir_per_dgram=$(( (ir2 - ir1) / (rt2 - rt1) )) round_trips=$rt1,$rt2"
        else
            echo "FAIL $s: no callgrind totals" >&2; status=1
        fi
    done
    exit $status
fi

for run in $(seq "$RUNS"); do
    for s in "${NAMES[@]}"; do
        [ -n "${SKIP[$s]:-}" ] && continue
        if run_one "$s" "$DURATION" "$WARMUP" ""; then
            echo "$s $LINE" >> "$SUMMARY"
        else
            status=1
        fi
    done
done

# per server, the median of each column over the runs (each column on its
# own: the run with the median rate need not have the median CPU time)
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
if [ -s "$SUMMARY" ]; then
    echo "# median over $RUNS run(s): server rtt_per_s user_ns/dgram sys_ns/dgram lost"
    for s in "${NAMES[@]}"; do
        rows="$(grep "^$s RESULT" "$SUMMARY" | sed 's/[a-z_]*=//g' | awk '{print $4, $5, $6, $7}')"
        [ -n "$rows" ] || continue
        cols=()
        for c in 1 2 3 4; do cols+=("$(awk -v c="$c" '{print $c}' <<< "$rows" | median)"); done
        echo "MEDIAN $s ${cols[*]}"
    done
fi
exit $status
