#!/usr/bin/env bash
# Workload P1 of ../shared/benchmarks/README.md through the real `ketasim run`, whole process:
# wall time and peak resident memory (GNU time: `%e` s, `%M` KiB), median of RUNS runs, at
# --threads 1 and 2, for N = 1,000, 10,000 and 100,000; then patients/s of configs/default.yaml.
#
#   N = 1,000    configs/p1-benchmark.yaml --patients 1000   (the first 1,000 rows of the shared file)
#   N = 10,000   configs/p1-benchmark.yaml                   (the shared p1_population_10000.csv)
#   N = 100,000  configs/p1-benchmark.yaml --set cohort.population_file=$OUT/p1_population_100000.csv
#                The shared file has only 10,000 rows, so a 100,000-row file with the same
#                distributions is generated once (numpy, seed 100000): WT ~ Normal(80, 15)
#                truncated to [45, 150] (by rejection), ETA_CL, ETA_V1 ~ N(0, ln(1 + 0.3^2)),
#                ETA_V2 ~ N(0, ln(1 + 0.4^2)), independent. Same columns as the shared file.
#
# Every run writes the full hourly concentration matrix (2017 points per patient, float32,
# chunked, shuffle + deflate level 1) plus the per-patient NCA and MADRS datasets.
#
# Usage: benchmarks/run_p1.sh [path/to/ketasim]    (default: $KETASIM_EXE, else build/ketasim)
# Environment: RUNS (default 3), SIZES (default "1000 10000 100000"), THREADS (default "1 2"),
#              OUT (scratch folder, default /tmp/ketasim-p1), DEFAULT_PATIENTS (default 10000),
#              MRGSOLVE_SIZES (default: the SIZES up to 10,000), MRGSOLVE=0 to leave the peer out.
#
# Peer: when R can load mrgsolve (optional, not in Debian: docs/testing.md), the same P1 workload
# also runs through benchmarks/p1_mrgsolve.R (same population rows, regimen and hourly grid,
# LSODA rtol 1e-6, one thread, CP written as CSV), whole process `Rscript ...`, median of RUNS,
# after one untimed run that compiles the model into $OUT/mrgsolve-cache; then a side-by-side
# table of ketasim and mrgsolve. Without mrgsolve the script says so and prints ketasim only.
# Quote the machine's load with the numbers: timings on a shared machine drift.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exe="${1:-${KETASIM_EXE:-$here/build/ketasim}}"
runs="${RUNS:-3}"
sizes="${SIZES:-1000 10000 100000}"
threads_list="${THREADS:-1 2}"
out="${OUT:-/tmp/ketasim-p1}"
default_patients="${DEFAULT_PATIENTS:-10000}"
mkdir -p "$out"
[ -x "$exe" ] || { echo "run_p1.sh: no ketasim executable at $exe" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "run_p1.sh: needs GNU time (/usr/bin/time; apt-get install time)" >&2; exit 1; }

pop100k="$out/p1_population_100000.csv"
if [[ " $sizes " == *" 100000 "* && ! -s "$pop100k" ]]; then
  /usr/bin/python3 - "$pop100k" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(100000)
n = 100000
wt = np.empty(0)
while wt.size < n:  # Normal(80, 15) truncated to [45, 150] by rejection
    x = rng.normal(80.0, 15.0, 2 * n)
    wt = np.concatenate([wt, x[(x >= 45.0) & (x <= 150.0)]])
wt = wt[:n]
eta_cl = rng.normal(0.0, np.sqrt(np.log(1 + 0.3**2)), n)
eta_v1 = rng.normal(0.0, np.sqrt(np.log(1 + 0.3**2)), n)
eta_v2 = rng.normal(0.0, np.sqrt(np.log(1 + 0.4**2)), n)
with open(sys.argv[1], "w") as f:
    f.write("ID,WT,ETA_CL,ETA_V1,ETA_V2\n")
    for i in range(n):
        f.write(f"{i + 1},{wt[i]!r},{eta_cl[i]!r},{eta_v1[i]!r},{eta_v2[i]!r}\n")
PY
fi

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A wall_of  # "LABEL N THREADS" -> median wall s, for the side-by-side table

# measure LABEL N THREADS ARGS...: RUNS runs; prints the medians of wall time and peak RSS.
# ARGS are ketasim's, or (label P1-mrgsolve) the whole command line, which writes $out/result.h5.
measure() {
  local label="$1" n="$2" threads="$3"
  shift 3
  local walls=() rss=()
  for ((r = 0; r < runs; r++)); do
    rm -f "$out/result.h5"
    if [ "$label" = P1-mrgsolve ]; then
      /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" 2>>"$out/mrgsolve.log" >/dev/null
    else
      /usr/bin/time -f "%e %M" -o "$out/time.txt" "$exe" run "$@" --threads "$threads" -o "$out/result.h5" --quiet >/dev/null
    fi
    read -r w m <"$out/time.txt"
    walls+=("$w")
    rss+=("$m")
  done
  local wall_med rss_med size
  wall_med=$(printf '%s\n' "${walls[@]}" | median)
  rss_med=$(printf '%s\n' "${rss[@]}" | median)
  size=$(stat -c %s "$out/result.h5")
  awk -v l="$label" -v n="$n" -v t="$threads" -v w="$wall_med" -v m="$rss_med" -v s="$size" -v all="${walls[*]}" \
    'BEGIN {printf "%-14s %8d %7d %9.2f %10.0f %9.0f %9.0f   (%s)\n", l, n, t, w, n / w, m / 1024, s / 1e6, all}'
  wall_of["$label $n $threads"]="$wall_med"
  rm -f "$out/result.h5"
}

echo "# ketasim P1 benchmark: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $exe ($("$exe" --version)); median of $runs runs; wall s, patients/s, peak RSS MiB, file MB (all wall times)"
printf '%-14s %8s %7s %9s %10s %9s %9s\n' workload N threads wall_s patients/s rss_MiB file_MB
cd "$here"
for n in $sizes; do
  for t in $threads_list; do
    case "$n" in
      10000) measure P1 "$n" "$t" configs/p1-benchmark.yaml ;;
      100000) measure P1 "$n" "$t" configs/p1-benchmark.yaml --set "cohort.population_file=$pop100k" ;;
      *) measure P1 "$n" "$t" configs/p1-benchmark.yaml --patients "$n" ;;
    esac
  done
done
for t in $threads_list; do
  measure default "$default_patients" "$t" configs/default.yaml --patients "$default_patients"
done

# ---- peer: mrgsolve on the same P1 workload (optional) ----
if [ "${MRGSOLVE:-1}" = 0 ]; then
  exit 0
fi
if ! command -v Rscript >/dev/null || ! Rscript -e 'suppressPackageStartupMessages(library(mrgsolve))' >/dev/null 2>&1; then
  echo "# peer: mrgsolve is not installed (R cannot load it): ketasim only. docs/testing.md says how to install it."
  exit 0
fi
mrg_sizes="${MRGSOLVE_SIZES:-$(for n in $sizes; do [ "$n" -le 10000 ] && printf '%s ' "$n"; done)}"
pop10k="$(realpath -m "$here/../shared/benchmarks/p1_population_10000.csv")"  # what configs/p1-benchmark.yaml reads
[ -s "$pop10k" ] || { echo "run_p1.sh: no population file at $pop10k" >&2; exit 1; }
mrg_cache="$out/mrgsolve-cache"
: >"$out/mrgsolve.log"
# Untimed warm-up: compiles the model once into the cache (a C++ compile, not part of the workload).
Rscript "$here/benchmarks/p1_mrgsolve.R" "$pop10k" 10 "$out/result.h5" "$mrg_cache" 2>>"$out/mrgsolve.log" >/dev/null
rm -f "$out/result.h5"
echo "# peer: mrgsolve $(Rscript -e 'cat(as.character(packageVersion("mrgsolve")))') (R $(Rscript -e 'cat(as.character(getRversion()))')), benchmarks/p1_mrgsolve.R, 1 thread, CSV output (file_MB is the CSV); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $mrg_sizes; do
  case "$n" in
    10000|1000) pop="$pop10k" ;;
    100000) pop="$pop100k" ;;
    *) pop="$pop10k" ;;
  esac
  measure P1-mrgsolve "$n" 1 Rscript "$here/benchmarks/p1_mrgsolve.R" "$pop" "$n" "$out/result.h5" "$mrg_cache"
done
echo "# phases of the timed mrgsolve runs (load model / simulate / write), from $out/mrgsolve.log:"
{ grep '^p1_mrgsolve.R' "$out/mrgsolve.log" || true; } | tail -n +2 | sed 's/^/#   /'

echo "# side by side, P1, whole process, median wall s (ratio = mrgsolve / ketasim):"
printf '%8s %14s %14s %14s %12s %12s\n' N ketasim_1thr ketasim_2thr mrgsolve_1thr ratio_1thr ratio_2thr
for n in $mrg_sizes; do
  k1="${wall_of["P1 $n 1"]:-}"
  k2="${wall_of["P1 $n 2"]:-}"
  m="${wall_of["P1-mrgsolve $n 1"]:-}"
  awk -v n="$n" -v k1="$k1" -v k2="$k2" -v m="$m" 'function r(a, b) {return (a != "" && b != "" && b > 0) ? sprintf("%.1f", a / b) : "-"}
    function f(x) {return x == "" ? "-" : sprintf("%.2f", x)}
    BEGIN {printf "%8d %14s %14s %14s %12s %12s\n", n, f(k1), f(k2), f(m), r(m, k1), r(m, k2)}'
done
