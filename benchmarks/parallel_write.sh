#!/usr/bin/env bash
# How K ranks should write one results file (issue 12 part A; docs/scaling.md "Why a single writer"):
# the rank-0 writer ketasim uses, collective parallel HDF5, and per-rank files joined by a virtual
# dataset, timed on the same bytes by build-mpi/benchmarks/parallel_write/parallel_write_bench (its
# header says what each strategy does). The bytes are P1's full hourly concentrations
# (configs/p1-benchmark.yaml, 10,000 patients, 80 MB raw), tiled 10x for 100,000. Each line: median
# of REPEAT whole writes (create, write, close, rename; barrier to barrier), every file read back
# and compared bit for bit with the input.
#
# Usage: benchmarks/parallel_write.sh [K...]     default "1 2 3 4" (3 and 4 oversubscribe 2 cores)
# Environment: REPEAT (default 5), REPLICATE (default "1 10": 10,000 and 100,000 patients),
#              OUT (default /tmp/ketasim-parallel-write). Needs tools/setup.sh --mpi.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$here/build-mpi/benchmarks/parallel_write/parallel_write_bench"
[ -x "$bench" ] || { echo "parallel_write.sh: $bench not built; run tools/setup.sh --mpi" >&2; exit 1; }
ranks=("$@")
((${#ranks[@]})) || ranks=(1 2 3 4)
out="${OUT:-/tmp/ketasim-parallel-write}"
mkdir -p "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_btl_vader_single_copy_mechanism=none

"$here/build/ketasim" run "$here/configs/p1-benchmark.yaml" -o "$out/input.h5" --quiet >/dev/null
echo "# parallel write strategies, P1 conc_ketamine: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for replicate in ${REPLICATE:-1 10}; do
  for k in "${ranks[@]}"; do
    rm -f "$out"/parallel_write_*
    mpirun -n "$k" --oversubscribe --bind-to none "$bench" "$out/input.h5" conc_ketamine "$out" \
      --repeat "${REPEAT:-5}" --replicate "$replicate"
  done
done
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
