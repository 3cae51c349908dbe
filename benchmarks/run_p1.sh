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
#              MRGSOLVE_SIZES (default: the SIZES up to 10,000), MRGSOLVE=0 to leave that peer out,
#              DESOLVE_SIZES (default: the SIZES up to 1,000; 10,000 takes ~2 min a run), DESOLVE=0.
#
# Peer: when R can load mrgsolve (optional, not in Debian: docs/testing.md), the same P1 workload
# also runs through benchmarks/p1_mrgsolve.R (same population rows, regimen and hourly grid,
# LSODA rtol 1e-6, one thread, CP written as CSV), whole process `Rscript ...`, median of RUNS,
# after one untimed run that compiles the model into $OUT/mrgsolve-cache; then a side-by-side
# table of ketasim and mrgsolve. The same for deSolve (Debian r-cran-desolve, which tools/setup.sh
# installs) through benchmarks/p1_desolve.R: the model in C, compiled once with R CMD SHLIB, one
# ode() call per individual (tests/python/test_desolve.py checks it computes the same workload).
# A peer R cannot load is named and left out.
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
# ARGS are ketasim's, or (label P1-<peer>) the whole command line, which writes $out/result.h5.
measure() {
  local label="$1" n="$2" threads="$3"
  shift 3
  local walls=() rss=()
  for ((r = 0; r < runs; r++)); do
    rm -f "$out/result.h5"
    if [[ "$label" == P1-* ]]; then  # a peer: the whole command line
      /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" 2>>"$out/${label#P1-}.log" >/dev/null
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

# ---- peers: mrgsolve and deSolve on the same P1 workload (optional) ----
pop10k="$(realpath -m "$here/../shared/benchmarks/p1_population_10000.csv")"  # what configs/p1-benchmark.yaml reads
[ -s "$pop10k" ] || { echo "run_p1.sh: no population file at $pop10k" >&2; exit 1; }
r_loads() { command -v Rscript >/dev/null && Rscript -e "suppressPackageStartupMessages(library($1))" >/dev/null 2>&1; }
population_for() { if [ "$1" -gt 10000 ]; then echo "$pop100k"; else echo "$pop10k"; fi; }
peers=()  # label:sizes of the peers that ran

# run_peer LABEL PACKAGE SCRIPT SIZES: one untimed warm-up that compiles the model into
# $out/LABEL-cache (a compile, not part of the workload), then RUNS timed runs per size.
run_peer() {
  local label="$1" package="$2" script="$3" peer_sizes="$4"
  local cache="$out/$label-cache" log="$out/$label.log"
  : >"$log"
  Rscript "$script" "$pop10k" 10 "$out/result.h5" "$cache" 2>>"$log" >/dev/null
  rm -f "$out/result.h5"
  echo "# peer: $package $(Rscript -e "cat(as.character(packageVersion('$package')))") (R $(Rscript -e 'cat(as.character(getRversion()))')), $(basename "$script"), 1 thread, CSV output (file_MB is the CSV); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for n in $peer_sizes; do
    measure "P1-$label" "$n" 1 Rscript "$script" "$(population_for "$n")" "$n" "$out/result.h5" "$cache"
  done
  echo "# phases of the timed $package runs (load model / simulate / write), from $log:"
  { grep "^$(basename "$script")" "$log" || true; } | tail -n +2 | sed 's/^/#   /'
  peers+=("$label")
}

default_peer_sizes() { for n in $sizes; do [ "$n" -le "$1" ] && printf '%s ' "$n"; done; }
mrg_sizes="${MRGSOLVE_SIZES:-$(default_peer_sizes 10000)}"
desolve_sizes="${DESOLVE_SIZES:-$(default_peer_sizes 1000)}"
if [ "${MRGSOLVE:-1}" != 0 ]; then
  if r_loads mrgsolve; then
    run_peer mrgsolve mrgsolve "$here/benchmarks/p1_mrgsolve.R" "$mrg_sizes"
  else
    echo "# peer: mrgsolve is not installed (R cannot load it). docs/testing.md says how to install it."
  fi
fi
if [ "${DESOLVE:-1}" != 0 ]; then
  if r_loads deSolve; then
    run_peer desolve deSolve "$here/benchmarks/p1_desolve.R" "$desolve_sizes"
  else
    echo "# peer: deSolve is not installed (R cannot load it; Debian: r-cran-desolve, which tools/setup.sh installs)."
  fi
fi
((${#peers[@]})) || { echo "# no peer ran: ketasim only."; exit 0; }

echo "# side by side, P1, whole process, median wall s (ratio = peer / ketasim at 1 and 2 threads):"
header="$(printf '%8s %13s %13s' N ketasim_1thr ketasim_2thr)"
for p in "${peers[@]}"; do header+="$(printf ' %13s %9s %9s' "${p}_1thr" ratio_1 ratio_2)"; done
echo "$header"
for n in $(printf '%s\n' $mrg_sizes $desolve_sizes | sort -gu); do
  k1="${wall_of["P1 $n 1"]:-}"
  k2="${wall_of["P1 $n 2"]:-}"
  line="$(awk -v n="$n" -v k1="$k1" -v k2="$k2" 'function f(x) {return x == "" ? "-" : sprintf("%.2f", x)}
    BEGIN {printf "%8d %13s %13s", n, f(k1), f(k2)}')"
  for p in "${peers[@]}"; do
    m="${wall_of["P1-$p $n 1"]:-}"
    line+="$(awk -v k1="$k1" -v k2="$k2" -v m="$m" 'function r(a, b) {return (a != "" && b != "" && b > 0) ? sprintf("%.1f", a / b) : "-"}
      function f(x) {return x == "" ? "-" : sprintf("%.2f", x)}
      BEGIN {printf " %13s %9s %9s", f(m), r(m, k1), r(m, k2)}')"
  done
  echo "$line"
done
