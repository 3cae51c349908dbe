#!/usr/bin/env bash
# Installs ketasim's Debian 12 dependencies (only those missing), then configures and builds
# into build/. Safe to run again: apt is skipped when everything is present, cmake rebuilds
# only what changed. Run as root or through sudo.
#
#   tools/setup.sh --mpi   also installs Open MPI (libopenmpi-dev, openmpi-bin) and builds
#                          build-mpi/ketasim with -DKETASIM_MPI=ON, for `mpirun -n K
#                          build-mpi/ketasim run ...` (docs/scaling.md). build/ stays serial.
#                          It also installs parallel HDF5 (libhdf5-openmpi-dev) for the
#                          write-strategy measurement build-mpi/benchmarks/parallel_write/
#                          parallel_write_bench; ketasim itself links the serial HDF5.
set -euo pipefail
cd "$(dirname "$0")/.."
mpi=0
for arg in "$@"; do
  case "$arg" in
    --mpi) mpi=1 ;;
    *) echo "setup: unknown option '$arg' (expected: --mpi)" >&2; exit 1 ;;
  esac
done

packages=(
  cmake g++ make pkg-config git time
  libboost-dev libeigen3-dev libtbb-dev libhdf5-dev libaec-dev hdf5-tools catch2 libyaml-cpp-dev
  libcli11-dev librandom123-dev libbenchmark-dev libnlopt-cxx-dev zlib1g-dev
  libssl-dev nlohmann-json3-dev libfmt-dev libdeflate-dev
  python3 python3-h5py python3-numpy python3-pandas python3-matplotlib python3-xarray
  python3-h5netcdf python3-netcdf4 python3-yaml python3-scipy
  r-base-core r-cran-hdf5r r-cran-ncdf4 r-cran-survival r-cran-desolve netcdf-bin
)
if ((mpi)); then packages+=(libopenmpi-dev openmpi-bin libhdf5-openmpi-dev); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
if ((mpi)); then
  # Only the executable and the write-strategy measurement: their tests are the `mpi`-labelled ones
  # (ctest --test-dir build-mpi -L mpi), which run them under mpirun against build/ketasim; the rest
  # of the suite is the same code as build/.
  cmake -S . -B build-mpi -DCMAKE_BUILD_TYPE=Release -DKETASIM_MPI=ON -DKETASIM_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build build-mpi -j"$(nproc)" --target ketasim parallel_write_bench
fi
