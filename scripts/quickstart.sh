#!/usr/bin/env bash
# Quick start, from the repo root, as root:
#
#   bash scripts/quickstart.sh
#
# Installs the dependencies, builds a release `sluice` in build-release/ (without the test
# suite), and runs the demo: Sluice and wireguard-go in two network namespaces, a ping and an
# iperf3 run through the tunnel, and a summary (scripts/demo.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $(id -u) -eq 0 ]] || { echo "quickstart: run as root (the demo creates network namespaces and TUN devices)" >&2; exit 1; }

bash scripts/install-deps.sh

gen=Ninja
[[ -f build-release/CMakeCache.txt ]] && gen=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' build-release/CMakeCache.txt)
cmake -S . -B build-release -G "${gen:-Ninja}" -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF
cmake --build build-release -j "${JOBS:-2}" --target sluice_cli
echo "quickstart: built $(pwd)/build-release/sluice"

exec bash scripts/demo.sh "$(pwd)/build-release/sluice"
