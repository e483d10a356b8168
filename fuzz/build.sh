#!/usr/bin/env bash
# Configures (once) and builds the fuzz build: the targets and the seed generator.
# The directory is $FUZZ_BUILD_DIR, or build-fuzz at the top of the repository.
# Used by fuzz/run and fuzz/make_seeds.sh; prints the build directory on stdout.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$src/build-fuzz}
if [[ ! -f $build/build.ninja ]]; then
  CC=${CC:-clang-14} CXX=${CXX:-clang++-14} cmake -S "$src" -B "$build" -G Ninja -DSLUICE_FUZZ=ON \
    -DSLUICE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
cmake --build "$build" --target sluice_fuzz >&2
echo "$build"
