#!/usr/bin/env bash
# compare_builds.sh -- two builds of asyncio_workloads side by side: each
# workload run REPS times per build, the builds interleaved run by run and
# pinned to one core (as ../shared/bench/run_baselines.sh runs its peers),
# then the callgrind instructions per operation of each (N1 -> N2).
#
# usage: benchmarks/compare_builds.sh BASE_BINARY NEW_BINARY [WORKLOAD[:N] ...]
# environment: REPS=5 CPU=0 N1=20000 N2=40000 SKIP_GRIND=1
set -euo pipefail
base=$1 new=$2
shift 2
workloads=("$@")
((${#workloads[@]})) || workloads=(await_chain:10000000 spawn_await:1000000 gather_many:1000000)
REPS=${REPS:-5} CPU=${CPU:-0} N1=${N1:-20000} N2=${N2:-40000}

ns_per_op() { taskset -c "$CPU" "$1" "$2" "$3" | sed -n 's/^RESULT .* ns_per_op=\([0-9.]*\).*/\1/p'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}

printf '%-22s %12s %12s %8s %10s %10s %8s\n' workload "base ns/op" "new ns/op" change "base Ir/op" "new Ir/op" change
for spec in "${workloads[@]}"; do
  w=${spec%%:*} n=${spec#*:}
  [ "$n" = "$spec" ] && n=1000000
  b=() c=()
  for _ in $(seq "$REPS"); do
    b+=("$(ns_per_op "$base" "$w" "$n")")
    c+=("$(ns_per_op "$new" "$w" "$n")")
  done
  mb=$(printf '%s\n' "${b[@]}" | median) mc=$(printf '%s\n' "${c[@]}" | median)
  ib=- ic=- ichange=-
  if [ "${SKIP_GRIND:-0}" != 1 ]; then
    ib=$(( ($(ir "$base" "$w" "$N2") - $(ir "$base" "$w" "$N1")) / (N2 - N1) ))
    ic=$(( ($(ir "$new" "$w" "$N2") - $(ir "$new" "$w" "$N1")) / (N2 - N1) ))
    ichange=$(awk -v a="$ib" -v b="$ic" 'BEGIN {printf "%+.1f%%", 100 * (b - a) / a}')
  fi
  printf '%-22s %12s %12s %8s %10s %10s %8s\n' "$w" "$mb" "$mc" \
    "$(awk -v a="$mb" -v b="$mc" 'BEGIN {printf "%+.1f%%", 100 * (b - a) / a}')" "$ib" "$ic" "$ichange"
done
