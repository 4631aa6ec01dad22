#!/usr/bin/env bash
# grind_tcp_echo.sh -- user-space instructions per echoed message of TCP echo
# servers (the kit's tcp_echo workload: 50 connections, 100-byte messages),
# the steady figure where msgs/s and CPU ticks are noise: each server runs
# under callgrind twice, without warm-up, for SHORT and LONG seconds of
# load; the difference of the totals (start-up and shutdown cancel out) is
# divided by the difference of the messages echoed.
#
# usage: benchmarks/grind_tcp_echo.sh NAME=SERVER_BINARY ...
#   (each server takes its port as its only argument and exits on SIGTERM)
# env: SHORT=2 LONG=6 PORT=25500 BUILD=build/grind
#      the client: benchmarks/peers/tools/tls_echo_client.c (--plain without TLS)
#      TLS=1: over TLS 1.3 / AES-128-GCM;
#      each server then gets "PORT CERT KEY" (the echo examples take them).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHORT=${SHORT:-2} LONG=${LONG:-6} PORT=${PORT:-25500} BUILD=${BUILD:-$ROOT/build/grind}
mkdir -p "$BUILD"
# one client for plain and TLS (tools/tls_echo_client.c; --plain: the kit's echo_client loop)
cc -O2 -o "$BUILD/tls_echo_client" "$ROOT/benchmarks/peers/tools/tls_echo_client.c" -lssl -lcrypto
CLIENT=("$BUILD/tls_echo_client" --plain) SERVER_ARGS=()
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -keyout "$BUILD/key.pem" -out "$BUILD/cert.pem" > /dev/null 2>&1
  CLIENT=("$BUILD/tls_echo_client") SERVER_ARGS=("$BUILD/cert.pem" "$BUILD/key.pem")
fi

# Total instructions of one run and the messages echoed: "IR MESSAGES".
grind_once() {
  local server=$1 seconds=$2 log="$BUILD/grind.err"
  timeout -s KILL $((seconds + 120)) valgrind --tool=callgrind --callgrind-out-file=/dev/null "$server" "$PORT" "${SERVER_ARGS[@]}" \
    > /dev/null 2> "$log" &
  local pid=$!
  for _ in $(seq 300); do
    (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break
    sleep 0.1
  done
  local line
  line=$(timeout $((seconds + 60)) "${CLIENT[@]}" 127.0.0.1 "$PORT" 50 100 0 "$seconds")
  kill -TERM "$pid"
  wait "$pid" || true
  echo "$(sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$log" | tail -n1) $(sed -n 's/.* messages=\([0-9]*\).*/\1/p' <<< "$line")"
}

for spec in "$@"; do
  name=${spec%%=*} server=${spec#*=}
  read -r ir1 m1 < <(grind_once "$server" "$SHORT")
  read -r ir2 m2 < <(grind_once "$server" "$LONG")
  echo "GRIND $name ir_per_msg=$(((ir2 - ir1) / (m2 - m1))) messages=$m1,$m2"
done
