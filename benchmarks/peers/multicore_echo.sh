#!/usr/bin/env bash
# Multi-core tcp_echo (issue 15): the bench kit's tcp_echo workload (its
# tools/echo_client.c: CONNS connections, SIZE-byte messages, one in flight
# each) against three servers on 1 loop and on N loops, in one run,
# interleaved (run 1 of every server and loop count, then run 2, ...):
#   asyncio_cpp  examples/echo_server_sharded --loops N: run_sharded(), each
#                loop its own start_server(..., {.reuse_port = true})
#   asio         benchmarks/peers/asio/echo_server_mt.cpp --threads N: an
#                io_context per thread, each its own acceptor with SO_REUSEPORT
#                (the kernel spreads the connections, as for ours)
#   tokio        benchmarks/peers/tokio tokio_echo_server_mt --threads N: the
#                multi-thread runtime, worker_threads = N, one listener, work
#                stealing between the workers
# Pinning (2-core machine): 1 loop = the server on core 0, the client on
# core 1; N loops = the server on every core, the client unpinned (it then
# shares the cores with the server: see docs/performance.md).
#
# usage: benchmarks/peers/multicore_echo.sh BUILD_DIR   (a Release build with echo_server_sharded)
# env: RUNS (3)  SECONDS (5)  WARMUP (1)  CONNS (50)  SIZE (100)  LOOPS ("1 2")
#      SERVERS ("asyncio_cpp asio tokio")  PORT (random in 36000-45999)
#      PEER_BUILD (BUILD_DIR/multicore-peers: the client, Asio and tokio builds)
#      BENCH_KIT (the kit's folder; default <repo>/../shared/bench, then /work/shared/bench)
# Prints one RESULT line per figure (with the load average at its start; exit 1 if one failed),
# then a table of medians. A peer whose toolchain is missing (Boost, cargo +
# librust-tokio-dev) is skipped with a message. Loopback only; every server
# is stopped (SIGTERM, then SIGKILL after 5 s) before the next starts.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build/gcc}" && pwd)" || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
# SECONDS is a bash special variable (it counts up): take it from the
# environment this script was started with.
DURATION="$(tr '\0' '\n' < /proc/$$/environ | sed -n 's/^SECONDS=//p' | head -n1)"
DURATION="${DURATION:-5}" WARMUP="${WARMUP:-1}" CONNS="${CONNS:-50}" SIZE="${SIZE:-100}"
RUNS="${RUNS:-3}" LOOPS="${LOOPS:-1 2}" SERVERS="${SERVERS:-asyncio_cpp asio tokio}" PORT="${PORT:-$((36000 + RANDOM % 10000))}"
PEER_BUILD="${PEER_BUILD:-$BUILD/multicore-peers}"
if [ -z "${BENCH_KIT:-}" ]; then
    BENCH_KIT="$ROOT/../shared/bench"; [ -f "$BENCH_KIT/tools/echo_client.c" ] || BENCH_KIT=/work/shared/bench
fi
NCPU="$(nproc)"
TMO="$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')"  # a client's time limit
mkdir -p "$PEER_BUILD"
LOG="$(mktemp -d)"
: >"$LOG/results"; : >"$LOG/client.err"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
    rm -rf "$LOG"
}
trap cleanup EXIT

# ------------------------------------------------------------------ build
echo "# multicore_echo.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) runs=$RUNS loops=\"$LOOPS\" ${DURATION}s+${WARMUP}s warm-up conns=$CONNS msg=${SIZE}B cores=$NCPU"
echo "# VERSION cc: $(cc --version | head -1); c++: $(c++ --version | head -1)"
echo "# VERSION boost: $(sed -n 's/^#define BOOST_LIB_VERSION "\(.*\)"/\1/p' /usr/include/boost/version.hpp 2>/dev/null)"
echo "# VERSION cargo: $(cargo --version 2>/dev/null || echo none); tokio: $(ls -d /usr/share/cargo/registry/tokio-1* 2>/dev/null | sed 's|.*/||' | tr '\n' ' ')"
cc -O2 -DNDEBUG -o "$PEER_BUILD/echo_client" "$BENCH_KIT/tools/echo_client.c" || { echo "# cannot build echo_client from $BENCH_KIT"; exit 2; }
declare -A CMD SKIP
if [ -x "$BUILD/examples/echo_server_sharded" ]; then
    CMD[asyncio_cpp]="$BUILD/examples/echo_server_sharded --loops"
else
    SKIP[asyncio_cpp]="$BUILD/examples/echo_server_sharded not built (cmake --build $BUILD --target echo_server_sharded)"
fi
if [ -f /usr/include/boost/asio.hpp ]; then
    echo "# BUILD c++ -std=c++20 -O2 -DNDEBUG -pthread -o asio_echo_server_mt benchmarks/peers/asio/echo_server_mt.cpp"
    if c++ -std=c++20 -O2 -DNDEBUG -pthread -o "$PEER_BUILD/asio_echo_server_mt" "$ROOT/benchmarks/peers/asio/echo_server_mt.cpp"; then
        CMD[asio]="$PEER_BUILD/asio_echo_server_mt --threads"
    else SKIP[asio]="build failed"; fi
else
    SKIP[asio]="Boost not installed (libboost1.81-dev)"
fi
if command -v cargo >/dev/null; then
    echo "# BUILD (cd benchmarks/peers/tokio && cargo build --release --offline)"
    if (cd "$ROOT/benchmarks/peers/tokio" && CARGO_TARGET_DIR="$PEER_BUILD/tokio" timeout 600 cargo build --release --offline --quiet); then
        CMD[tokio]="$PEER_BUILD/tokio/release/tokio_echo_server_mt --threads"
    else SKIP[tokio]="cargo build failed (needs librust-tokio-dev for the offline build)"; fi
else
    SKIP[tokio]="cargo not found"
fi
for s in $SERVERS; do
    [ -n "${SKIP[$s]:-}" ] && echo "# SKIP $s: ${SKIP[$s]}"
    [ -z "${CMD[$s]:-}" ] && [ -z "${SKIP[$s]:-}" ] && echo "# SKIP $s: unknown server"
done

# ------------------------------------------------------------------- runs
# thread_cpu PID: the CPU seconds of its busiest threads, "a/b/..." (as many as loops)
thread_cpu() {
    local tck; tck="$(getconf CLK_TCK)"
    for t in /proc/"$1"/task/*/stat; do
        sed 's/.*) //' "$t" 2>/dev/null | awk -v k="$tck" '{printf "%.2f\n", ($12 + $13) / k}'
    done | sort -rn | head -n "$2" | paste -sd/
}
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}
echo "# CLIENT echo_client 127.0.0.1 PORT $CONNS $SIZE $WARMUP $DURATION SERVER_PID"
echo "# PIN 1 loop: server taskset -c 0, client taskset -c 1; N loops: server taskset -c 0-$((NCPU - 1)), client unpinned"
FAILS=0
for run in $(seq "$RUNS"); do
    for loops in $LOOPS; do
        if [ "$loops" = 1 ]; then
            spin="taskset -c 0"; cpin="taskset -c 1"
        else
            spin="taskset -c 0-$((NCPU - 1))"; cpin=""
        fi
        for s in $SERVERS; do
            [ -n "${CMD[$s]:-}" ] || continue
            PORT=$((PORT + 1))
            $spin ${CMD[$s]} "$loops" "$PORT" >/dev/null 2>"$LOG/server.err" &
            SERVER_PID=$!
            sleep 0.3  # every loop listening before the first connection (SO_REUSEPORT)
            load="$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')"
            line="$(timeout "$TMO" $cpin "$PEER_BUILD/echo_client" 127.0.0.1 "$PORT" "$CONNS" "$SIZE" \
                "$WARMUP" "$DURATION" "$SERVER_PID" 2>>"$LOG/client.err")"
            threads="$(thread_cpu "$SERVER_PID" "$loops")"
            stop_server
            split="$(sed -n 's/.*connections per loop: //p' "$LOG/server.err" | tr ' ' '/')"
            if [ -n "$line" ]; then
                echo "RESULT run=$run loops=$loops server=$s load=$load ${line#RESULT } thread_cpu_s=$threads${split:+ conns_per_loop=$split}" |
                    tee -a "$LOG/results"
            else
                echo "# FAILED run=$run loops=$loops server=$s: $(tail -n2 "$LOG/client.err" "$LOG/server.err" | tr '\n' ' ')"
                FAILS=$((FAILS + 1))
            fi
        done
    done
done

# ---------------------------------------------------------------- summary
python3 - "$LOG/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT "):
        continue
    f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    rows.setdefault((f["server"], int(f["loops"])), []).append(f)
if not rows:
    sys.exit(0)
def med(rs, key, conv=float):
    v = [conv(r[key]) for r in rs]
    return statistics.median(v), min(v), max(v)
print()
print(f"# medians of {max(len(r) for r in rows.values())} runs (min-max); server ns/msg = server CPU (user + kernel) per echoed message")
print("| server | loops | msgs/s | [min - max] | server user ns/msg | server user+sys ns/msg | server CPU | client CPU | p50 / p99 us | load avg |")
print("|---|---:|---:|---|---:|---:|---:|---:|---|---|")
for (server, loops), rs in sorted(rows.items(), key=lambda kv: (kv[0][0] != "asyncio_cpp", kv[0][0], kv[0][1])):
    m, lo, hi = med(rs, "msgs_per_s")
    usr = statistics.median(float(r["server_usr_ns_per_msg"]) for r in rs)
    tot = statistics.median(float(r["server_usr_ns_per_msg"]) + float(r["server_sys_ns_per_msg"]) for r in rs)
    scpu = statistics.median(float(r["server_cpu"]) for r in rs)
    ccpu = statistics.median(float(r["client_cpu"]) for r in rs)
    p50 = statistics.median(int(r["p50_us"]) for r in rs)
    p99 = statistics.median(int(r["p99_us"]) for r in rs)
    loads = sorted(float(r["load"].split("/")[0]) for r in rs)
    print(f"| {server} | {loops} | {m:,.0f} | [{lo:,.0f} - {hi:,.0f}] | {usr:,.0f} | {tot:,.0f} | {scpu:.2f} | {ccpu:.2f} | {p50:.0f} / {p99:.0f} | {loads[0]:.2f}-{loads[-1]:.2f} |")
EOF
[ "$FAILS" = 0 ]
