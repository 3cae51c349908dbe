#!/usr/bin/env bash
# Thread sweep of workload P1 (configs/p1-benchmark.yaml, N = 10,000 from the shared population
# file unless ARGS say otherwise), whole process `ketasim run`: median wall time of RUNS runs at
# each thread count, speed-up T1/Tk and parallel efficiency T1/(k x Tk).
#
# Usage: benchmarks/thread_sweep.sh [THREADS...]         e.g. benchmarks/thread_sweep.sh 1 2 4 8 16
#   THREADS default: 1, 2, 4, ... up to $(nproc). T1 is always measured (efficiency needs it).
# Environment: KETASIM_EXE (default build/ketasim), RUNS (default 5), OUT (scratch folder,
#   default /tmp/ketasim-sweep), ARGS (extra `ketasim run` arguments, e.g.
#   ARGS="--set outputs.concentration=summary" or ARGS="--patients 1000"), CONFIG (default
#   configs/p1-benchmark.yaml).
# Prints the machine's load average before and after: on a shared machine wall times drift, and
# efficiency is only meaningful when the machine has at least k idle cores for the k-thread run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${KETASIM_EXE:-$here/build/ketasim}"
runs="${RUNS:-5}"
out="${OUT:-/tmp/ketasim-sweep}"
config="${CONFIG:-configs/p1-benchmark.yaml}"
read -r -a extra <<<"${ARGS:-}"
[ -x "$exe" ] || { echo "thread_sweep.sh: no ketasim executable at $exe" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "thread_sweep.sh: needs GNU time (/usr/bin/time)" >&2; exit 1; }
mkdir -p "$out"

threads=("$@")
if ((${#threads[@]} == 0)); then
  k=1
  while ((k <= $(nproc))); do threads+=("$k"); k=$((k * 2)); done
fi
[[ " ${threads[*]} " == *" 1 "* ]] || threads=(1 "${threads[@]}")

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "# thread sweep: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $exe ($("$exe" --version)) run $config ${extra[*]:-}; median of $runs runs (wall s)"
printf '%8s %9s %9s %11s   %s\n' threads wall_s speedup efficiency runs
cd "$here"
t1=""
for k in "${threads[@]}"; do
  walls=()
  for ((r = 0; r < runs; r++)); do
    rm -f "$out/result.h5"
    /usr/bin/time -f "%e" -o "$out/time.txt" "$exe" run "$config" "${extra[@]}" --threads "$k" -o "$out/result.h5" --quiet >/dev/null
    walls+=("$(cat "$out/time.txt")")
  done
  w=$(printf '%s\n' "${walls[@]}" | median)
  [ "$k" = 1 ] && t1="$w"
  awk -v k="$k" -v w="$w" -v t1="$t1" -v all="${walls[*]}" \
    'BEGIN {printf "%8d %9.3f %9.2f %11.2f   (%s)\n", k, w, t1 / w, t1 / (k * w), all}'
done
rm -f "$out/result.h5"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
