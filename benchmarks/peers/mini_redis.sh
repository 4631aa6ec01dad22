#!/usr/bin/env bash
# mini-redis benchmark: redis-benchmark (-q) against mini_redis on one loop and
# on N shards, the real redis-server, and the Python twin on asyncio (and
# uvloop if importable); GET and SET, without and with pipelining (-P 16).
#
# usage: benchmarks/peers/mini_redis.sh
# env: BUILD (default <repo>/build/gcc)  N (200000)  C (50)  PIPELINE (16)
#      SHARDS (2)  RUNS (3, interleaved)  PYTHON (pyenv's 3.13 if present: the asyncio twin)
#      UVLOOP_PYTHON (/usr/bin/python3 if it imports uvloop, else PYTHON: the uvloop twin;
#            Debian 12's python3-uvloop 0.17 is for the system's 3.11 only)
#      SERVERS (default "mini_redis mini_redis_sharded redis_server asyncio uvloop")
#      KEYSPACE: redis-benchmark -r KEYSPACE (random keys among KEYSPACE: with
#            several shards the keys then partition, and only the share owned by
#            another shard crosses; without it every request uses one key)
#      PIN1 (default "taskset -c 0": one core for the servers on one loop;
#            empty: no pinning)  PINN ("taskset -c 0,1" for the sharded one)
#      CPU=1: the server's CPU time (user + sys, /proc/PID/stat) per request instead:
#            the cost a request has on a core, steadier than requests/s on a loaded
#            machine (ticks of 10 ms: use N=1000000 with -P 16)
#      GRIND=1: callgrind instructions per request in the server instead
#            (GRIND_N1=2000, GRIND_N2=12000 requests: (Ir(N2) - Ir(N1)) / (N2 - N1),
#            start-up and shut-down cancel out); steady on a loaded machine
# Needs redis-tools (redis-benchmark); redis-server (Debian redis-server) for
# its row. Prints one line per figure: server, test, pipeline, requests/s and
# the load average when it started; then a table of medians (min-max).
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build/gcc}"
N="${N:-200000}"; C="${C:-50}"; PIPELINE="${PIPELINE:-16}"; SHARDS="${SHARDS:-2}"; RUNS="${RUNS:-3}"
SERVERS="${SERVERS:-mini_redis mini_redis_sharded redis_server asyncio uvloop}"
PIN1="${PIN1-taskset -c 0}"; PINN="${PINN-taskset -c 0,1}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "${PYENV_ROOT:-/root/.pyenv}/versions/3.13.0/bin/python3" ]; then
        PYTHON="${PYENV_ROOT:-/root/.pyenv}/versions/3.13.0/bin/python3"
    else PYTHON=python3; fi
fi
if [ -z "${UVLOOP_PYTHON:-}" ]; then
    if /usr/bin/python3 -c "import uvloop" 2>/dev/null; then UVLOOP_PYTHON=/usr/bin/python3; else UVLOOP_PYTHON="$PYTHON"; fi
fi
TWIN="$ROOT/benchmarks/peers/python/mini_redis.py"
KEYSPACE="${KEYSPACE:-}"
RB_KEYS=""; [ -n "$KEYSPACE" ] && RB_KEYS="-r $KEYSPACE"

GRIND="${GRIND:-0}"; GRIND_N1="${GRIND_N1:-2000}"; GRIND_N2="${GRIND_N2:-12000}"
if [ "$GRIND" = 1 ]; then
    PIN1=""; PINN=""
fi
start() {  # start NAME: sets PID and PORT, or returns 1 (skipped)
    local out; out="$(mktemp)"
    local VG=""
    if [ "$GRIND" = 1 ]; then VG="valgrind --tool=callgrind --log-file=/dev/null --callgrind-out-file=$GRIND_FILE"; fi
    case "$1" in
        mini_redis) $PIN1 $VG "$BUILD/examples/mini_redis/mini_redis" 0 >"$out" & ;;
        mini_redis_sharded) $PINN $VG "$BUILD/examples/mini_redis/mini_redis" --shards "$SHARDS" 0 >"$out" & ;;
        asyncio) $PIN1 $VG "$PYTHON" "$TWIN" 0 >"$out" & ;;
        uvloop) "$UVLOOP_PYTHON" -c "import uvloop" 2>/dev/null || { echo "# uvloop: not importable by $UVLOOP_PYTHON, skipped"; return 1; }
                $PIN1 $VG "$UVLOOP_PYTHON" "$TWIN" --uvloop 0 >"$out" & ;;
        redis_server) command -v redis-server >/dev/null || { echo "# redis-server: not installed, skipped"; return 1; }
                PORT=$((16379 + RANDOM % 1000))  # not a fixed port: other runs at once
                $PIN1 $VG redis-server --port $PORT --save "" --appendonly no >/dev/null 2>&1 &
                PID=$!
                for _ in $(seq 200); do redis-cli -p $PORT PING >/dev/null 2>&1 && break; sleep 0.05; done
                return 0 ;;
    esac
    PID=$!
    for _ in $(seq 600); do grep -q "listening on" "$out" && break; sleep 0.05; done
    PORT="$(sed -n 's/.*:\([0-9]*\) .*/\1/p' "$out")"
    rm -f "$out"
}

grind_ir() {  # grind_ir SERVER TEST PIPELINE N: total instructions of the server's run
    GRIND_FILE="$(mktemp)"
    start "$1" || return 1
    redis-benchmark -p "$PORT" -q -n "$4" -c "$C" -P "$3" -t "$2" $RB_KEYS >/dev/null 2>&1
    kill -INT "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
    sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$GRIND_FILE"
    rm -f "$GRIND_FILE"
}
if [ "${CPU:-0}" = 1 ]; then
    TCK="$(getconf CLK_TCK)"
    cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
    for run in $(seq "$RUNS"); do
        for s in $SERVERS; do
            start "$s" || continue
            # The process that runs the server (past taskset and valgrind's exec).
            for p in 1 "$PIPELINE"; do
                for t in get set; do
                    a="$(cpu_of "$PID")"
                    redis-benchmark -p "$PORT" -q -n "$N" -c "$C" -P "$p" -t "$t" $RB_KEYS >/dev/null 2>&1
                    b="$(cpu_of "$PID")"
                    echo "CPU run=$run server=$s test=$t pipeline=$p ns_per_request=$(( (b - a) * 1000000000 / TCK / N ))"
                done
            done
            kill -INT "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
        done
    done
    exit 0
fi
if [ "$GRIND" = 1 ]; then
    for s in $SERVERS; do
        for t in get set; do
            for p in 1 "$PIPELINE"; do
                a="$(grind_ir "$s" "$t" "$p" "$GRIND_N1")" || continue
                b="$(grind_ir "$s" "$t" "$p" "$GRIND_N2")" || continue
                echo "CALLGRIND server=$s test=$t pipeline=$p instr_per_request=$(( (b - a) / (GRIND_N2 - GRIND_N1) ))"
            done
        done
    done
    exit 0
fi

RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT
echo "# mini_redis.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) n=$N c=$C pipeline=1,$PIPELINE runs=$RUNS${KEYSPACE:+ keyspace=$KEYSPACE} ($(redis-benchmark --version 2>/dev/null | head -1))"
for run in $(seq "$RUNS"); do
    for s in $SERVERS; do
        start "$s" || continue
        for p in 1 "$PIPELINE"; do
            load="$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')"
            timeout 600 redis-benchmark -p "$PORT" -q -n "$N" -c "$C" -P "$p" -t get,set $RB_KEYS 2>/dev/null | tr '\r' '\n' |
                sed -n 's/^\(GET\|SET\): \([0-9.]*\) requests per second.*/\1 \2/p' |
                while read -r test rps; do
                    echo "RESULT run=$run server=$s test=$test pipeline=$p rps=$rps${KEYSPACE:+ keyspace=$KEYSPACE} load=$load"
                done | tee -a "$RESULTS"
        done
        kill -INT "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
    done
done
# The table: thousands of requests/s, median (min-max) of the runs.
python3 - "$RESULTS" "$PIPELINE" <<'EOF'
import statistics, sys
rows, loads = {}, []
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    rows.setdefault(f["server"], {}).setdefault((f["test"], f["pipeline"]), []).append(float(f["rps"]) / 1000)
    loads.append(float(f["load"].split("/")[0]))
if not rows:
    sys.exit(0)
cols = [("GET", "1"), ("SET", "1"), ("GET", sys.argv[2]), ("SET", sys.argv[2])]
def cell(v):
    return f"{statistics.median(v):,.1f} ({min(v):,.1f}-{max(v):,.1f})" if v else "-"
print(f"\n# thousands of requests/s, median (min-max); load average (1 min) {min(loads):.2f}-{max(loads):.2f}")
print("| server | GET | SET | GET -P " + sys.argv[2] + " | SET -P " + sys.argv[2] + " |")
print("|---|---:|---:|---:|---:|")
for server, r in rows.items():
    print(f"| {server} | " + " | ".join(cell(r.get(c, [])) for c in cols) + " |")
EOF
