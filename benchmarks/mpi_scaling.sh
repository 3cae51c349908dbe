#!/usr/bin/env bash
# Strong scaling of one `ketasim run` across ranks x threads (issue 12; docs/scaling.md): workload
# P1 (configs/p1-benchmark.yaml, the shared 10,000-patient population, full hourly concentrations,
# compressed) as ranks x threads-per-rank layouts, whole process (`mpirun ...` under GNU time),
# median of RUNS; efficiency = T(serial, 1 thread) / (cores used x T). Every run's datasets are
# checked against the serial run's with h5diff (the answer must not depend on the layout).
#
# Usage: benchmarks/mpi_scaling.sh [LAYOUT...]     LAYOUT = RANKSxTHREADS, default "1x1 1x2 2x1 2x2"
# Environment: RUNS (default 5), PATIENTS (default: the config's 10,000), OUT (default
#              /tmp/ketasim-mpi), SERIAL (default build/ketasim), MPI_EXE (default build-mpi/ketasim).
# A layout with 1 rank runs the serial build without mpirun; more ranks run the MPI build under
# mpirun --oversubscribe --bind-to none (ranks x threads may exceed the cores: the 2x2 case on 2
# cores; without --bind-to none Open MPI pins each of 2 ranks to one core and oneTBB follows the pin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
serial="${SERIAL:-$here/build/ketasim}"
mpi_exe="${MPI_EXE:-$here/build-mpi/ketasim}"
runs="${RUNS:-5}"
out="${OUT:-/tmp/ketasim-mpi}"
layouts=("$@")
((${#layouts[@]})) || layouts=(1x1 1x2 2x1 2x2)
config="$here/configs/p1-benchmark.yaml"
extra=()
[ -n "${PATIENTS:-}" ] && extra=(--patients "$PATIENTS")
mkdir -p "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_mpi_yield_when_idle=1

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

"$serial" run "$config" "${extra[@]}" --threads 1 -o "$out/reference.h5" --quiet >/dev/null
echo "# ketasim MPI strong scaling, P1: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $("$mpi_exe" --version); median of $runs runs, whole process wall s"
printf "%-8s %6s %8s %10s %11s  %s\n" layout cores wall_s patients/s efficiency runs
t1=""
for layout in "${layouts[@]}"; do
  ranks="${layout%x*}" threads="${layout#*x}"
  walls=()
  for ((r = 0; r < runs; r++)); do
    rm -f "$out/run.h5"
    if ((ranks == 1)); then
      /usr/bin/time -f "%e" -o "$out/time.txt" "$serial" run "$config" "${extra[@]}" --threads "$threads" -o "$out/run.h5" --quiet >/dev/null
    else
      /usr/bin/time -f "%e" -o "$out/time.txt" mpirun -n "$ranks" --oversubscribe --bind-to none "$mpi_exe" run "$config" "${extra[@]}" \
        --threads "$threads" -o "$out/run.h5" --quiet >/dev/null
    fi
    walls+=("$(cat "$out/time.txt")")
    h5diff --exclude-attribute / "$out/reference.h5" "$out/run.h5" >/dev/null ||
      { echo "mpi_scaling.sh: $layout gave different datasets from the serial run" >&2; exit 1; }
  done
  wall="$(printf '%s\n' "${walls[@]}" | median)"
  [ -z "$t1" ] && [ "$layout" = 1x1 ] && t1="$wall"
  cores=$((ranks * threads)); used=$((cores < $(nproc) ? cores : $(nproc)))
  n="$(/usr/bin/python3 -c 'import h5py, sys; print(len(h5py.File(sys.argv[1], "r")["patient"]))' "$out/run.h5")"
  eff="-"; [ -n "$t1" ] && eff="$(awk -v a="$t1" -v b="$wall" -v c="$used" 'BEGIN{printf "%.2f", a / (c * b)}')"
  printf "%-8s %6s %8s %10.0f %11s  (%s)\n" "$layout" "$cores" "$wall" "$(awk -v n="$n" -v w="$wall" 'BEGIN{print n / w}')" "$eff" "${walls[*]}"
done
