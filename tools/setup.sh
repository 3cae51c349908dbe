#!/usr/bin/env bash
# Installs ketasim's Debian 12 dependencies (only those missing), then configures and builds
# into build/. Safe to run again: apt is skipped when everything is present, cmake rebuilds
# only what changed. Run as root or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ make pkg-config git time
  libboost-dev libeigen3-dev libtbb-dev libhdf5-dev hdf5-tools catch2 libyaml-cpp-dev
  libcli11-dev librandom123-dev libbenchmark-dev libnlopt-cxx-dev zlib1g-dev
  libssl-dev nlohmann-json3-dev libfmt-dev libdeflate-dev
  python3 python3-h5py python3-numpy python3-pandas python3-matplotlib python3-xarray
  python3-h5netcdf python3-netcdf4 python3-yaml python3-scipy
  r-base-core r-cran-hdf5r r-cran-ncdf4 r-cran-survival netcdf-bin
)
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
