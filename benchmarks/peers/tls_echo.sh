#!/usr/bin/env bash
# TLS echo benchmark (issue 13): the bench kit's tcp_echo workload (50
# connections, 100-byte messages, one in flight each) in plain TCP and over
# TLS 1.3 / TLS_AES_128_GCM_SHA256, side by side in one run:
#   plain_streams, plain_protocol   examples/echo_server, echo_server_protocol PORT
#   plain_asio                      the kit's peers/asio/echo_server.cpp
#   plain_uvloop                    the kit's peers/python/echo_server.py uvloop streams
#   tls_streams, tls_protocol       the same two examples given PORT CERT KEY
#   tls_asio                        peers/asio/tls_echo_server.cpp (ssl::stream<tcp::socket>)
#   tls_uvloop                      peers/python/tls_echo_server.py (uvloop, streams API)
# every one driven by the same client (tools/tls_echo_client.c, --plain for
# TCP) so the TLS/plain ratios compare servers; then handshakes per second
# (one sequential client: connect, TLS 1.3 handshake with a P-256
# certificate, close_notify, close) against our server, Asio, uvloop and
# `openssl s_server`. Servers run on core 0, the client on core 1 (taskset,
# as the kit). RUNS interleaved repetitions (the noise on this machine
# comes in spells that slow every server alike), then the medians with the
# 1-minute load average of each run. Loopback only; every server is killed.
#
# usage: benchmarks/peers/tls_echo.sh [BUILD_DIR]   (a Release build with the examples)
# env: RUNS (3)  SECONDS (5)  WARMUP (1)  CONNS (50)  SIZE (100)  PORT (random in 25600-35599, so runs in two worktrees do not collide)
#      HS_SECONDS (3, per handshake run)  SERVERS / HS_SERVERS (subsets of the names above;
#      handshake names: streams protocol asio uvloop openssl)
#      PYTHON (/usr/bin/python3: the one with python3-uvloop)  CXX (g++)
#      SERVER_CPU (0)  CLIENT_CPU (1)
#      GRIND=1: instead, callgrind instructions per echoed message (user space, the server
#               only) of the six C++ servers, by benchmarks/grind_tcp_echo.sh (SHORT, LONG)
# The Asio peers are compiled as the kit compiles its peers: $CXX -std=c++20 -O2 -DNDEBUG
# -pthread (Boost 1.81: libboost1.81-dev; uvloop: python3-uvloop).
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KIT="${KIT:-/work/shared/bench}"
BUILD="${1:-$ROOT/build/gcc}"
DURATION="$(tr '\0' '\n' < /proc/$$/environ | sed -n 's/^SECONDS=//p' | head -n1)"
DURATION="${DURATION:-5}" WARMUP="${WARMUP:-1}" CONNS="${CONNS:-50}" SIZE="${SIZE:-100}" PORT="${PORT:-$((25600 + RANDOM % 10000))}"
RUNS="${RUNS:-3}" HS_SECONDS="${HS_SECONDS:-3}" PYTHON="${PYTHON:-/usr/bin/python3}" CXX="${CXX:-g++}"
SERVER_CPU="${SERVER_CPU:-0}" CLIENT_CPU="${CLIENT_CPU:-1}"
SERVERS="${SERVERS:-plain_streams plain_protocol plain_asio plain_uvloop tls_streams tls_protocol tls_asio tls_uvloop}"
HS_SERVERS="${HS_SERVERS:-streams protocol asio uvloop openssl}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cc -O2 -Wall -o "$WORK/tls_echo_client" "$ROOT/benchmarks/peers/tools/tls_echo_client.c" -lssl -lcrypto || exit 2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || exit 2
CXXFLAGS="-std=c++20 -O2 -DNDEBUG -pthread"   # the kit's flags for every C++ peer
if [ -f /usr/include/boost/asio.hpp ]; then
  $CXX $CXXFLAGS -o "$WORK/asio_echo_server" "$KIT/peers/asio/echo_server.cpp" &
  $CXX $CXXFLAGS -o "$WORK/asio_tls_echo_server" "$ROOT/benchmarks/peers/asio/tls_echo_server.cpp" -lssl -lcrypto &
  wait
fi
HAVE_UVLOOP=0; "$PYTHON" -c 'import uvloop' 2>/dev/null && HAVE_UVLOOP=1

echo "# $(date -u '+%F %T') UTC; $(nproc) cores; $($CXX --version | head -n1); $(openssl version)"
echo "# boost $(sed -n 's/^#define BOOST_LIB_VERSION "\(.*\)"/\1/p' /usr/include/boost/version.hpp 2>/dev/null)" \
  "(asio $(sed -n 's/^#define BOOST_ASIO_VERSION \([0-9]*\).*/\1/p' /usr/include/boost/asio/version.hpp 2>/dev/null));" \
  "$("$PYTHON" --version 2>&1) uvloop $("$PYTHON" -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null || echo none)"

if [ "${GRIND:-0}" = 1 ]; then
  # the same measurement as ours for every C++ server: two run lengths, the difference
  # of the instructions over the difference of the messages (grind_tcp_echo.sh)
  BUILD="$WORK/grind" "$ROOT/benchmarks/grind_tcp_echo.sh" \
    plain_streams="$BUILD/examples/echo_server" plain_protocol="$BUILD/examples/echo_server_protocol" \
    plain_asio="$WORK/asio_echo_server"
  TLS=1 BUILD="$WORK/grind" "$ROOT/benchmarks/grind_tcp_echo.sh" \
    tls_streams="$BUILD/examples/echo_server" tls_protocol="$BUILD/examples/echo_server_protocol" \
    tls_asio="$WORK/asio_tls_echo_server"
  exit 0
fi

wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# server_cmd NAME -> the server's command line before PORT [CERT KEY]; empty: skipped
server_cmd() {
  case $1 in
    *_streams | streams) echo "$BUILD/examples/echo_server" ;;
    *_protocol | protocol) echo "$BUILD/examples/echo_server_protocol" ;;
    plain_asio) [ -x "$WORK/asio_echo_server" ] && echo "$WORK/asio_echo_server" ;;
    tls_asio | asio) [ -x "$WORK/asio_tls_echo_server" ] && echo "$WORK/asio_tls_echo_server" ;;
    plain_uvloop) [ $HAVE_UVLOOP = 1 ] && echo "$PYTHON $KIT/peers/python/echo_server.py uvloop streams" ;;
    tls_uvloop | uvloop) [ $HAVE_UVLOOP = 1 ] && echo "$PYTHON $ROOT/benchmarks/peers/python/tls_echo_server.py" ;;
  esac
}

# start NAME TLS(0|1): starts the server pinned to SERVER_CPU, sets PID (0: skipped)
start() {
  local cmd args=()
  PORT=$((PORT + 1)) PID=0
  if [ "$1" = openssl ]; then
    taskset -c "$SERVER_CPU" openssl s_server -accept "127.0.0.1:$PORT" -cert "$WORK/cert.pem" \
      -key "$WORK/key.pem" -quiet -naccept 100000000 >/dev/null 2>&1 &
  else
    cmd=$(server_cmd "$1") || true
    [ -z "$cmd" ] && return 0
    [ "$2" = 1 ] && args=("$WORK/cert.pem" "$WORK/key.pem")
    taskset -c "$SERVER_CPU" $cmd "$PORT" "${args[@]}" >/dev/null 2>"$WORK/server.err" &
  fi
  PID=$!
  wait_port "$PORT" || { echo "$1: server did not start: $(tail -n 3 "$WORK/server.err" 2>/dev/null | tr '\n' ' ')"; stop; PID=0; }
}
stop() { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
load() { cut -d' ' -f1 /proc/loadavg; }

RESULTS="$WORK/results"
echo "# tcp_echo: $CONNS connections, $SIZE-byte messages, ${DURATION}s after ${WARMUP}s; $RUNS interleaved runs;" \
  "servers on core $SERVER_CPU, client on core $CLIENT_CPU"
for run in $(seq "$RUNS"); do
  for name in $SERVERS; do
    tls=0 plain=--plain; case $name in tls_*) tls=1 plain= ;; esac
    start "$name" "$tls"
    [ "$PID" = 0 ] && { [ "$run" = 1 ] && echo "$name: skipped"; continue; }
    l0=$(load)
    line=$(timeout $((${DURATION%.*} + ${WARMUP%.*} + 60)) taskset -c "$CLIENT_CPU" "$WORK/tls_echo_client" $plain \
      127.0.0.1 "$PORT" "$CONNS" "$SIZE" "$WARMUP" "$DURATION" "$PID")
    stop
    echo "run=$run name=$name load=$l0-$(load) $line" | tee -a "$RESULTS"
  done
  for name in $HS_SERVERS; do
    start "$name" 1
    [ "$PID" = 0 ] && { [ "$run" = 1 ] && echo "handshake_$name: skipped"; continue; }
    l0=$(load)
    line=$(timeout $((${HS_SECONDS%.*} + 60)) taskset -c "$CLIENT_CPU" "$WORK/tls_echo_client" --handshakes \
      127.0.0.1 "$PORT" "$HS_SECONDS" "$PID")
    stop
    echo "run=$run name=handshake_$name load=$l0-$(load) $line" | tee -a "$RESULTS"
  done
done

# medians over the runs, the TLS/plain ratios beside them
"$PYTHON" - "$RESULTS" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r'(\w+)=([^ ]+)', line))
    rows.setdefault(f['name'], []).append(f)
def med(name, key):
    v = [float(r[key]) for r in rows.get(name, []) if key in r]  # a failed run has no figures
    return statistics.median(v) if v else None
def loads(name):
    v = [float(x) for r in rows[name] for x in r['load'].split('-')]
    return f"{min(v):.1f}-{max(v):.1f}"
print("\n# medians (load: 1-minute load average over the runs)")
print(f"{'server':<22}{'msgs/s':>10}{'ns/msg':>9}{'usr':>7}{'sys':>7}{'srv cpu':>9}{'cli cpu':>9}  load")
for name in rows:
    if name.startswith('handshake_') or med(name, 'msgs_per_s') is None: continue
    print(f"{name:<22}{med(name,'msgs_per_s'):>10.0f}{med(name,'server_ns_per_msg'):>9.0f}"
          f"{med(name,'server_usr_ns_per_msg'):>7.0f}{med(name,'server_sys_ns_per_msg'):>7.0f}"
          f"{med(name,'server_cpu'):>9.2f}{med(name,'client_cpu'):>9.2f}  {loads(name)}")
for kind in ('streams', 'protocol', 'asio', 'uvloop'):
    p, t = med('plain_' + kind, 'msgs_per_s'), med('tls_' + kind, 'msgs_per_s')
    pc, tc = med('plain_' + kind, 'server_ns_per_msg'), med('tls_' + kind, 'server_ns_per_msg')
    if p and t:
        print(f"TLS/plain {kind}: msgs/s {t / p:.0%}, server CPU per message {tc / pc:.2f}x")
for kind in ('streams', 'protocol'):
    t, a = med('tls_' + kind, 'server_ns_per_msg'), med('tls_asio', 'server_ns_per_msg')
    if t and a:
        print(f"TLS {kind} / TLS Asio: server CPU per message {t / a:.2f}x")
print(f"\n{'handshakes':<22}{'per s':>10}{'us/hs':>9}  load")
for name in rows:
    if name.startswith('handshake_') and med(name, 'per_s') is not None:
        print(f"{name[10:]:<22}{med(name,'per_s'):>10.0f}{med(name,'server_us_per_handshake'):>9.0f}  {loads(name)}")
EOF
