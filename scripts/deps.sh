#!/usr/bin/env bash
# deps.sh -- make sure the system packages needed to build and test asyncio-cpp are present.
#
#   scripts/deps.sh            cmake, ninja-build, g++, libuv1-dev, libssl-dev, openssl, libgtest-dev, pkg-config,
#                              libcurl4-openssl-dev (examples/curl), redis-tools (examples/mini_redis)
#   scripts/deps.sh --clang    ... plus clang-19 and libclang-rt-19-dev (ASan/UBSan runtime)
#   scripts/deps.sh --bench    ... plus the peers of benchmarks/peers/udp_echo.sh: cargo and
#                              Debian's tokio crates (built offline), python3-uvloop, valgrind
#
# Debian/Ubuntu: as root, installs what is missing with apt-get; otherwise prints
# the apt-get line to run and exits 1 when something is missing.
set -euo pipefail

packages=(cmake ninja-build g++ libuv1-dev libssl-dev openssl libgtest-dev pkg-config libcurl4-openssl-dev redis-tools)
for arg in "$@"; do
  case "$arg" in
    --clang) packages+=(clang-19 libclang-rt-19-dev) ;;
    --bench) packages+=(cargo librust-tokio-dev librust-tokio-macros-dev python3-uvloop valgrind) ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "deps.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg >/dev/null 2>&1; then
  # Not a Debian-like system: check the tools only and let CMake report the libraries.
  missing_tools=()
  for tool in cmake ninja c++ pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || missing_tools+=("$tool")
  done
  if [[ " $* " == *" --clang "* ]]; then
    command -v clang++-19 >/dev/null 2>&1 || missing_tools+=(clang++-19)
  fi
  if ((${#missing_tools[@]})); then
    echo "deps.sh: missing tools: ${missing_tools[*]} (and libuv, GoogleTest development files)" >&2
    exit 1
  fi
  echo "deps.sh: no dpkg; found the tools, assuming libuv and GoogleTest are installed" >&2
  exit 0
fi

installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for pkg in "${packages[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  echo "deps.sh: all present: ${packages[*]}"
  exit 0
fi

install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "deps.sh: installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  "${install_cmd[@]}"
  still_missing=()
  for pkg in "${missing[@]}"; do
    installed "$pkg" || still_missing+=("$pkg")
  done
  if ((${#still_missing[@]})); then
    echo "deps.sh: still missing after apt-get: ${still_missing[*]}" >&2
    exit 1
  fi
  exit 0
fi

echo "deps.sh: missing packages: ${missing[*]}" >&2
echo "Install them with:" >&2
echo "  sudo ${install_cmd[*]}" >&2
exit 1
