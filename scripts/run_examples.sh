#!/usr/bin/env bash
# run_examples.sh -- build the examples (Release, Ninja) into build/examples and run them.
#
# Runs every tutorial step (examples/tutorial/*.cpp) and every examples/*.cpp
# program that finishes by itself; programs listed in SKIP_EXAMPLES (they need
# arguments or a peer, e.g. a server) are built but not run.  Each run is
# limited to EXAMPLE_TIMEOUT seconds.  Exits 1 if any program fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Programs (file names without .cpp) that do not finish on their own.
SKIP_EXAMPLES=${SKIP_EXAMPLES:-"echo_server echo_server_protocol echo_client"}
EXAMPLE_TIMEOUT=${EXAMPLE_TIMEOUT:-60}
BUILD_DIR=${BUILD_DIR:-build/examples}

scripts/deps.sh

cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DASYNCIO_BUILD_EXAMPLES=ON \
  -DASYNCIO_BUILD_TESTS=OFF \
  -DASYNCIO_BUILD_BENCHMARKS=OFF
cmake --build "$BUILD_DIR"

programs=()
shopt -s nullglob
for src in examples/tutorial/*.cpp; do
  name=$(basename "$src" .cpp)
  programs+=("$BUILD_DIR/examples/tutorial/$name")
done
for src in examples/*.cpp; do
  name=$(basename "$src" .cpp)
  if [[ " $SKIP_EXAMPLES " == *" $name "* ]]; then
    echo "=== examples/$name: skipped (needs arguments or a peer)"
    continue
  fi
  programs+=("$BUILD_DIR/examples/$name")
done
# Examples in folders of their own that run without arguments (mini_redis
# serves a port until SIGINT: its test, example.mini_redis, drives it).
for prog in "$BUILD_DIR/examples/curl/curl_multi"; do
  [[ -x $prog ]] && programs+=("$prog")
done
shopt -u nullglob

if ((${#programs[@]} == 0)); then
  echo "run_examples.sh: no example programs found" >&2
  exit 1
fi

failed=()
for prog in "${programs[@]}"; do
  echo "=== ${prog#"$BUILD_DIR"/}"
  rc=0
  timeout "$EXAMPLE_TIMEOUT" "$prog" </dev/null || rc=$?
  if ((rc != 0)); then
    echo "=== ${prog#"$BUILD_DIR"/}: FAILED (exit $rc)"
    failed+=("${prog#"$BUILD_DIR"/}")
  fi
done

echo
if ((${#failed[@]})); then
  echo "run_examples.sh: ${#failed[@]} of ${#programs[@]} failed: ${failed[*]}"
  exit 1
fi
echo "run_examples.sh: all ${#programs[@]} programs ran"
