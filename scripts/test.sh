#!/usr/bin/env bash
# THE test command (CI runs exactly this through .ci/run). From the repo root, as root:
#
#   bash scripts/test.sh
#
# 1. installs dependencies (scripts/install-deps.sh);
# 2. configures and builds with CMake + Ninja: build/ (RelWithDebInfo) and build-asan/
#    (RelWithDebInfo at -O1 -g1 with -DSLUICE_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer);
# 3. runs the unit tests (ctest -LE integration) in both builds, the embedding library's C test
#    in build-tsan/ (ThreadSanitizer), and the netns integration tests (ctest -L integration)
#    in build/ and, unless switched off, in build-asan/;
# 4. builds the libFuzzer targets (build-fuzz/, clang-14) and runs each for 30 s, one per core
#    at a time (fuzz/run);
# 5. prints every summary, then one total line; exits non-zero if anything failed.
#
# Env:
#   SLUICE_ASAN_INTEGRATION=0   skip the integration tests in the ASan build (default 1)
#   SLUICE_INTEGRATION=0        skip all integration tests (default 1; they need root)
#   SLUICE_FUZZ_SECONDS=N       seconds per libFuzzer target in build-fuzz/ (default 30; 0 skips)
#   SLUICE_SKIP_DEPS=1          do not run install-deps.sh
#   SLUICE_ASAN_BUILD_TYPE=T    CMake build type of build-asan/ (default RelWithDebInfo; Debug
#                               compiles faster, runs slower)
#   JOBS=N                      build and unit-test parallelism (default 2)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
JOBS=${JOBS:-2}
ASAN_INTEGRATION=${SLUICE_ASAN_INTEGRATION:-1}
ASAN_BUILD_TYPE=${SLUICE_ASAN_BUILD_TYPE:-RelWithDebInfo}
INTEGRATION=${SLUICE_INTEGRATION:-1}
FUZZ_SECONDS=${SLUICE_FUZZ_SECONDS:-30}
LOGDIR=$(mktemp -d /tmp/sluice-test.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

T0=$(date +%s)
stamp() { printf '%dm%02ds' $((($(date +%s) - T0) / 60)) $((($(date +%s) - T0) % 60)); }
banner() { printf '\n===== [%s] %s =====\n' "$(stamp)" "$*"; }

if [[ ${SLUICE_SKIP_DEPS:-0} != 1 ]]; then
  banner "dependencies"
  bash scripts/install-deps.sh
fi

if [[ $INTEGRATION == 1 && $(id -u) -ne 0 ]]; then
  echo "test.sh: integration tests need root (network namespaces, TUN); run as root or set SLUICE_INTEGRATION=0" >&2
  exit 1
fi

# configure DIR BUILD_TYPE CMAKE_ARGS...: keeps whatever generator an existing build dir has.
configure() {
  local dir=$1 type=$2 gen=Ninja
  shift 2
  if [[ -f $dir/CMakeCache.txt ]]; then
    gen=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt")
  fi
  cmake -S "$REPO" -B "$dir" -G "${gen:-Ninja}" -DCMAKE_BUILD_TYPE="$type" "$@"
}

banner "build/ (RelWithDebInfo)"
configure build RelWithDebInfo -DSLUICE_SANITIZE=OFF
cmake --build build -j "$JOBS"

banner "build-asan/ ($ASAN_BUILD_TYPE, ASan + UBSan)"
# -O1 and line tables only: ASan's usual setting, and half the compile time of -O2 -g on the
# Catch2 test files; the benchmarks are not built there (they measure the release build).
# The embedding library there owns its transport through Darwin's batch socket over the
# socket_x shim (SLUICE_EMBED_DARWIN_UDP), so the path an iOS app runs is tested too; build/
# keeps Linux's socket.
configure build-asan "$ASAN_BUILD_TYPE" -DSLUICE_SANITIZE=ON -DSLUICE_BUILD_BENCH=OFF -DSLUICE_EMBED_DARWIN_UDP=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
cmake --build build-asan -j "$JOBS"

banner "build-tsan/ (ThreadSanitizer, the embedding library's test only)"
# The embedding API is the one place where host threads, the worker, the resolver and crypto
# threads meet; its C test (1,000 start/stop cycles, every call from the host's threads) runs
# under ThreadSanitizer. Only that target is built: a couple of minutes.
tsan=-fsanitize=thread
configure build-tsan RelWithDebInfo -DSLUICE_SANITIZE=OFF -DSLUICE_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS="$tsan" -DCMAKE_CXX_FLAGS="$tsan" -DCMAKE_EXE_LINKER_FLAGS="$tsan" \
  -DCMAKE_SHARED_LINKER_FLAGS="$tsan"
cmake --build build-tsan -j "$JOBS" --target embed_tunnel_test

export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

SUMMARY=()
PASSED=0
FAILED=0
STATUS=0

# run_ctest NAME DIR CTEST_ARGS...: runs ctest, records its summary line and counts.
run_ctest() {
  local name=$1 dir=$2 log rc=0 line
  shift 2
  log="$LOGDIR/${name//[^a-zA-Z0-9]/_}.log"
  banner "$name"
  ctest --test-dir "$dir" --output-on-failure --no-tests=error "$@" 2>&1 | tee "$log" || rc=$?
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    FAILED=$((FAILED + BASH_REMATCH[1]))
    PASSED=$((PASSED + BASH_REMATCH[2] - BASH_REMATCH[1]))
  else
    line="no test summary (ctest exit $rc)"
    FAILED=$((FAILED + 1))
  fi
  ((rc == 0)) || STATUS=1
  SUMMARY+=("$(printf '%-24s %s' "$name:" "$line")")
}

run_ctest "unit (build)" build -LE integration -j "$JOBS"
run_ctest "unit (build-asan)" build-asan -LE integration -j "$JOBS"
run_ctest "embed (build-tsan)" build-tsan -R '^embed\.tunnel$'
if [[ $INTEGRATION == 1 ]]; then
  run_ctest "integration (build)" build -L integration
  if [[ $ASAN_INTEGRATION == 1 ]]; then
    run_ctest "integration (build-asan)" build-asan -L integration
  fi
fi

# A short libFuzzer run of every target keeps them building and in bounds (ASan + UBSan);
# the long runs are `fuzz/run SECONDS` by hand. One passed/failed count per target.
if ((FUZZ_SECONDS > 0)); then
  banner "fuzz ($FUZZ_SECONDS s per target)"
  log="$LOGDIR/fuzz.log"
  rc=0
  bash fuzz/run "$FUZZ_SECONDS" 2>&1 | tee "$log" || rc=$?
  ok=$(grep -cE '^fuzz_[a-z0-9_]+ +[0-9?]+ execs +ok$' "$log" || true)
  bad=$(grep -E '^fuzz_[a-z0-9_]+ +[0-9?]+ execs ' "$log" | grep -cvE ' ok$' || true)
  if ((rc != 0 && bad == 0)); then bad=1; fi  # the build itself failed
  PASSED=$((PASSED + ok))
  FAILED=$((FAILED + bad))
  ((rc == 0)) || STATUS=1
  SUMMARY+=("$(printf '%-24s %d targets ok, %d failed' "fuzz:" "$ok" "$bad")")
fi

banner "summary (total time $(stamp))"
printf '%s\n' "${SUMMARY[@]}"
((FAILED == 0)) || STATUS=1
printf 'total: %d passed, %d failed\n' "$PASSED" "$FAILED"
exit "$STATUS"
