#!/usr/bin/env bash
# run_tests.sh -- build and test asyncio-cpp in each configuration, with warnings as errors.
#
#   gcc          build/gcc         g++          Release (-O2)
#   gcc-asan     build/gcc-asan    g++          -O1 -g, -fsanitize=address,undefined: GCC 12 is
#                                                our users' compiler, and its coroutine bugs show
#                                                only under it; with the docs' code (docs.*),
#                                                as clang-asan
#   clang-asan   build/clang-asan  clang++-19   Debug (-O0), -fsanitize=address,undefined, and the
#                                                libFuzzer targets with a bounded run each
#   clang-tsan   build/clang-tsan  clang++-19   Debug (-O0), -fsanitize=thread; only the tests
#                                                that use threads (TSAN_TESTS)
#
# Environment:
#   ASYNCIO_CONFIGS="gcc gcc-asan clang-asan clang-tsan"  which configurations to run (default: all)
#   TSAN_TESTS='^(events|runners|threads|signals|subprocess|multicore|contextvars|debug)\.'   ctest regex of the tests clang-tsan runs
#   CTEST_JOBS=2                      ctest parallelism
#   CMAKE_BUILD_PARALLEL_LEVEL        build parallelism (default: Ninja's)
# Every configuration runs even when an earlier one fails; the exit status is
# non-zero if any build or test failed.  A summary is printed last.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CONFIGS=${ASYNCIO_CONFIGS:-"gcc gcc-asan clang-asan clang-tsan"}
TSAN_TESTS=${TSAN_TESTS:-'^(events|runners|threads|signals|subprocess|multicore|contextvars|debug)\.'}
CTEST_JOBS=${CTEST_JOBS:-2}

need_clang=0
for config in $CONFIGS; do
  case "$config" in
    gcc | gcc-asan) ;;
    clang-asan | clang-tsan) need_clang=1 ;;
    *) echo "run_tests.sh: unknown configuration '$config' (known: gcc gcc-asan clang-asan clang-tsan)" >&2; exit 2 ;;
  esac
done
if ((need_clang)); then
  scripts/deps.sh --clang
else
  scripts/deps.sh
fi

# Sanitizer settings, also seen by the test discovery that runs at build time.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

configure_args() {
  case "$1" in
    gcc)
      # The docs' code is checked by gcc-asan, with the same compiler.
      echo -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release -DASYNCIO_CHECK_DOCS=OFF ;;
    gcc-asan)
      # Debug's -g after -O1: optimised as the issue's failures were measured.
      echo -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
        -DASYNCIO_SANITIZE=address,undefined ;;
    clang-asan)
      echo -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_BUILD_TYPE=Debug -DASYNCIO_SANITIZE=address,undefined \
        -DASYNCIO_BUILD_FUZZERS=ON ;;
    clang-tsan)
      echo -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_BUILD_TYPE=Debug -DASYNCIO_SANITIZE=thread \
        -DASYNCIO_BUILD_EXAMPLES=OFF -DASYNCIO_BUILD_BENCHMARKS=OFF ;;
  esac
}

declare -A status=()
declare -A seconds=()
overall=0
for config in $CONFIGS; do
  build_dir="build/$config"
  echo
  echo "################ $config ($build_dir)"
  start=$SECONDS
  # shellcheck disable=SC2046  # word splitting of the argument list is intended
  # The configuration's own arguments come last, so they can turn parts off.
  if ! cmake -S . -B "$build_dir" -G Ninja -DASYNCIO_WERROR=ON \
        -DASYNCIO_BUILD_TESTS=ON -DASYNCIO_BUILD_EXAMPLES=ON -DASYNCIO_BUILD_BENCHMARKS=ON \
        $(configure_args "$config"); then
    status[$config]="FAILED (configure)"
  elif ! cmake --build "$build_dir"; then
    status[$config]="FAILED (build)"
  elif ! ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "$CTEST_JOBS" \
        $(if [[ $config == clang-tsan ]]; then echo -R "$TSAN_TESTS"; fi); then
    status[$config]="FAILED (tests)"
  else
    status[$config]="passed"
  fi
  seconds[$config]=$((SECONDS - start))
  [[ ${status[$config]} == passed ]] || overall=1
done

echo
echo "################ summary"
for config in $CONFIGS; do
  printf '  %-12s %-20s %5ss\n' "$config" "${status[$config]}" "${seconds[$config]}"
done
if ((overall)); then
  echo "run_tests.sh: FAILED"
else
  echo "run_tests.sh: all configurations passed"
fi
exit "$overall"
