#!/usr/bin/env bash
# TLS echo benchmark (issue 13): the tcp_echo workload (50 connections,
# 100-byte messages, one in flight each) over TLS 1.3 / AES-128-GCM against
# our streams and protocol echo servers, beside the same servers in plain TCP
# and uvloop with TLS when it is installed (python3-uvloop); then handshakes
# per second against our TLS server beside `openssl s_server`. Loopback only;
# every server is killed at the end.
#
# usage: benchmarks/peers/tls_echo.sh BUILD_DIR   (a Release build with the examples)
# env: SECONDS (5)  WARMUP (1)  CONNS (50)  SIZE (100)  PORT (random in 25600-35599)
#      UVLOOP_PYTHON (python3 if it imports uvloop, else /usr/bin/python3)
# Asio's ssl::stream is not built here.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build/gcc}"
DURATION="$(tr '\0' '\n' < /proc/$$/environ | sed -n 's/^SECONDS=//p' | head -n1)"
# PORT: a random base by default, so two runs at once (other worktrees) do not collide
DURATION="${DURATION:-5}" WARMUP="${WARMUP:-1}" CONNS="${CONNS:-50}" SIZE="${SIZE:-100}" PORT="${PORT:-$((25600 + RANDOM % 10000))}"
TMO="$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')"  # a client's time limit
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cc -O2 -Wall -o "$WORK/tls_echo_client" "$ROOT/benchmarks/peers/tools/tls_echo_client.c" -lssl -lcrypto || exit 2
cc -O2 -o "$WORK/echo_client" "$ROOT/../shared/bench/tools/echo_client.c" 2>/dev/null ||
  cc -O2 -o "$WORK/echo_client" /work/shared/bench/tools/echo_client.c || exit 2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || exit 2

wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# run NAME CLIENT SERVER_COMMAND...
run() {
  local name=$1 client=$2; shift 2
  "$@" >/dev/null 2>"$WORK/server.err" &
  local pid=$!
  if wait_port "$PORT"; then
    local line
    line=$(timeout "$TMO" "$WORK/$client" 127.0.0.1 "$PORT" "$CONNS" "$SIZE" "$WARMUP" "$DURATION" "$pid")
    echo "$name: $line"
  else
    echo "$name: server did not start: $(tail -n 3 "$WORK/server.err" | tr '\n' ' ')"
  fi
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  PORT=$((PORT + 1))
}

echo "# tcp_echo: $CONNS connections, $SIZE-byte messages, ${DURATION}s (after ${WARMUP}s)"
run plain_streams echo_client "$BUILD/examples/echo_server" "$PORT"
run plain_protocol echo_client "$BUILD/examples/echo_server_protocol" "$PORT"
run tls_streams tls_echo_client "$BUILD/examples/echo_server" "$PORT" "$WORK/cert.pem" "$WORK/key.pem"
run tls_protocol tls_echo_client "$BUILD/examples/echo_server_protocol" "$PORT" "$WORK/cert.pem" "$WORK/key.pem"
# Debian's python3-uvloop is for /usr/bin/python3 (3.11) only.
UVLOOP_PYTHON="${UVLOOP_PYTHON:-python3}"
"$UVLOOP_PYTHON" -c 'import uvloop' 2>/dev/null || UVLOOP_PYTHON=/usr/bin/python3
if "$UVLOOP_PYTHON" -c 'import uvloop' 2>/dev/null; then
  run tls_uvloop tls_echo_client "$UVLOOP_PYTHON" "$ROOT/benchmarks/peers/python/tls_echo_server.py" "$PORT" "$WORK/cert.pem" "$WORK/key.pem"
else
  echo "tls_uvloop: skipped (uvloop not installed: python3-uvloop)"
fi

echo "# handshakes per second (one client, sequential: connect, TLS 1.3 handshake, close)"
hs() {
  local name=$1; shift
  "$@" >/dev/null 2>&1 &
  local pid=$!
  wait_port "$PORT" && echo "$name: $("$WORK/tls_echo_client" --handshakes 127.0.0.1 "$PORT" "$DURATION")"
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  PORT=$((PORT + 1))
}
hs asyncio_cpp "$BUILD/examples/echo_server" "$PORT" "$WORK/cert.pem" "$WORK/key.pem"
hs openssl_s_server openssl s_server -accept "127.0.0.1:$PORT" -cert "$WORK/cert.pem" -key "$WORK/key.pem" -quiet -naccept 100000000
