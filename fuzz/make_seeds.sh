#!/usr/bin/env bash
# Rewrites the seed corpora in fuzz/corpus/<target>/ with fuzz_seed_generator (seed_generator.cpp),
# adding the real packets in $SLUICE_VECTORS_DIR (default /work/shared/vectors, *.hex). The output
# is deterministic; check it in. Existing files are overwritten, others are left alone.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vectors=${SLUICE_VECTORS_DIR:-/work/shared/vectors}
build=$("$here/build.sh")
if [[ ! -d $vectors ]]; then
  echo "make_seeds.sh: no $vectors; the packet-vector seeds are not rewritten" >&2
fi
"$build/fuzz/fuzz_seed_generator" "$here/corpus" "$vectors"
du -sh "$here/corpus"
for d in "$here"/corpus/*/; do echo "$(basename "$d"): $(ls "$d" | wc -l) files"; done
