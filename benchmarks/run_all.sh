#!/usr/bin/env bash
# run_all.sh -- every benchmark in one run, every figure in one results file:
# the bench kit's run_baselines.sh (../shared/bench, read-only: its builds and
# results go to BENCH_OUT) with the library's programs plugged in
# (ASYNCIO_CPP_WORKLOADS, ASYNCIO_CPP_ECHO, ASYNCIO_CPP_ECHO_PROTOCOL), then
# our peer scripts: benchmarks/peers/{multicore_echo,mini_redis,tls_echo,
# udp_echo,sendfile,fd_wakeup}.sh. Loopback only; each script stops its servers.
#
# usage: benchmarks/run_all.sh [--quick] [BUILD_DIR]
#   BUILD_DIR  a Release build of this checkout (default build/gcc) configured with
#              -DASYNCIO_BUILD_EXAMPLES=ON -DASYNCIO_BUILD_BENCHMARKS=ON; the programs
#              the benchmarks run are built there first (cmake --build --target ...)
#   --quick    a smoke test of the whole chain (a few minutes): the kit's --quick,
#              one run of every script, short durations, small N
# env: BENCH_OUT (default: a new /tmp/asyncio-bench.XXXXXX; the kit's build/ and
#      results/, the peers' builds, and the results file go there)
#      RESULTS (default BENCH_OUT/run_all-<UTC stamp>.txt: every part's output, appended)
#      BENCH_KIT (default <repo>/../shared/bench, then /work/shared/bench)
#      PARTS (default "kit multicore_echo mini_redis tls_echo udp_echo sendfile fd_wakeup")
# Exit status 1 if a part failed (the others still run); the file says which.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUICK=0
BUILD=""
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        -*) echo "usage: $0 [--quick] [BUILD_DIR]" >&2; exit 2 ;;
        *) BUILD="$a" ;;
    esac
done
BUILD="$(cd "${BUILD:-$ROOT/build/gcc}" 2>/dev/null && pwd)" || { echo "run_all.sh: no build folder" >&2; exit 2; }
if [ -z "${BENCH_KIT:-}" ]; then
    BENCH_KIT="$ROOT/../shared/bench"; [ -x "$BENCH_KIT/run_baselines.sh" ] || BENCH_KIT=/work/shared/bench
fi
BENCH_OUT="${BENCH_OUT:-$(mktemp -d /tmp/asyncio-bench.XXXXXX)}"
mkdir -p "$BENCH_OUT" || exit 2
BENCH_OUT="$(cd "$BENCH_OUT" && pwd)"
RESULTS="${RESULTS:-$BENCH_OUT/run_all-$(date -u +%Y%m%d-%H%M%S).txt}"
PARTS="${PARTS:-kit multicore_echo mini_redis tls_echo udp_echo sendfile fd_wakeup}"
T0=$(date +%s)

say() { echo "$*" | tee -a "$RESULTS"; }
say "# run_all.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) quick=$QUICK build=$BUILD kit=$BENCH_KIT out=$BENCH_OUT"
say "# VERSION $(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null | cut -c1-100)"
say "# VERSION cxx: $(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null) $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null); $(g++ --version | head -1)"
say "# VERSION $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# The programs the parts run, built in BUILD (a missing one fails only its part).
TARGETS="asyncio_workloads echo_server echo_server_protocol echo_server_sharded mini_redis
         asyncio_udp_echo_server asyncio_sendfile_client asyncio_fd_wakeup"
say "# BUILD cmake --build $BUILD --target $(echo $TARGETS)"
# shellcheck disable=SC2086
cmake --build "$BUILD" --target $TARGETS 2>&1 | tail -n 3 | tee -a "$RESULTS"

FAILED=()
# part NAME COMMAND...: runs it, appends its output (stdout and stderr) to RESULTS
part() {
    local name=$1; shift
    case " $PARTS " in *" $name "*) ;; *) return 0 ;; esac
    local t=$(date +%s)
    say ""
    say "## $name ($(date -u +%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
    say "# COMMAND $*"
    "$@" 2>&1 | tee -a "$RESULTS"
    local rc=${PIPESTATUS[0]}
    say "# $name: exit $rc after $(( $(date +%s) - t )) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    [ "$rc" = 0 ] || FAILED+=("$name")
}

if [ "$QUICK" = 1 ]; then
    KIT_ARGS=(--quick)
    MC=(env RUNS=1 SECONDS=2 WARMUP=0.5)
    MR=(env N=20000 RUNS=1)
    TLS=(env SECONDS=2 WARMUP=0.5 RUNS=1 HS_SECONDS=1)
    UDP=(env SECONDS=2 WARMUP=1 RUNS=1)
    SF=(env SIZE_MIB=128 RUNS=1)
    FD=(env N=20000 RUNS=1)
else
    KIT_ARGS=()
    MC=(env RUNS=5)
    MR=(env RUNS=3)
    TLS=(env)
    UDP=(env)
    SF=(env)
    FD=(env)
fi

part kit env BENCH_OUT="$BENCH_OUT/kit" \
    ASYNCIO_CPP_WORKLOADS="$BUILD/benchmarks/asyncio_workloads" \
    ASYNCIO_CPP_ECHO="$BUILD/examples/echo_server" \
    ASYNCIO_CPP_ECHO_PROTOCOL="$BUILD/examples/echo_server_protocol" \
    ECHO_SERVERS="${ECHO_SERVERS:-asyncio_cpp asyncio_cpp-protocol epoll libuv asio tokio py-uvloop-protocol py-uvloop-streams py-asyncio-protocol py-asyncio-streams}" \
    "$BENCH_KIT/run_baselines.sh" "${KIT_ARGS[@]}"
part multicore_echo "${MC[@]}" PEER_BUILD="$BENCH_OUT/multicore-peers" BENCH_KIT="$BENCH_KIT" \
    "$ROOT/benchmarks/peers/multicore_echo.sh" "$BUILD"
part mini_redis "${MR[@]}" BUILD="$BUILD" "$ROOT/benchmarks/peers/mini_redis.sh"
# the sharded server with the keys spread (-r): beside redis-server with the same flags
part mini_redis "${MR[@]}" BUILD="$BUILD" KEYSPACE=100000 SERVERS="mini_redis mini_redis_sharded redis_server" \
    "$ROOT/benchmarks/peers/mini_redis.sh"
part tls_echo "${TLS[@]}" "$ROOT/benchmarks/peers/tls_echo.sh" "$BUILD"
part udp_echo "${UDP[@]}" BUILD="$BENCH_OUT/udp-peers" "$ROOT/benchmarks/peers/udp_echo.sh" \
    asyncio_cpp="$BUILD/benchmarks/asyncio_udp_echo_server protocol"
part sendfile "${SF[@]}" "$ROOT/benchmarks/peers/sendfile.sh" "$BUILD"
part fd_wakeup "${FD[@]}" "$ROOT/benchmarks/peers/fd_wakeup.sh" "$BUILD"

say ""
say "# run_all.sh: done after $(( $(date +%s) - T0 )) s; load average $(cut -d' ' -f1-3 /proc/loadavg)${FAILED[*]:+; FAILED: ${FAILED[*]}}"
echo "results: $RESULTS"
[ ${#FAILED[@]} = 0 ]
