#!/usr/bin/env bash
# The test command (README): installs what is missing, generates the reference fixtures with the
# real mlx-lm, builds, runs every test (labels unit, ops, model, api), then the unit and op tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer, and a short fuzz run when clang is
# available. .ci/run calls this and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="$(nproc)"

scripts/setup.sh
tools/prepare_test_data.sh tests/fixtures/generated

echo "== release build"
scripts/build.sh release
echo "== tests (release)"
OLLMLX_REQUIRE_FIXTURES=1 OLLMLX_FIXTURES="$PWD/tests/fixtures/generated" \
  ctest --test-dir build --output-on-failure -j "$JOBS" -LE gpu

echo "== sanitizer build (unit and op tests)"
# Only the unit and op test executables (and the libraries they link): the sanitizer stage runs
# nothing else, and a whole-project sanitizer build doubles CI's time on 2 cores.
cmake --preset asan >/dev/null
cmake --build build-asan -j "$JOBS" --target tests_unit tests_ops
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS" -L "unit|ops"

if command -v clang++-14 >/dev/null; then
  echo "== fuzz smoke run"
  cmake --preset fuzz >/dev/null
  # The fuzz targets only (they compile the code under test into themselves).
  cmake --build build-fuzz -j "$JOBS" --target fuzz_all
  for f in build-fuzz/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f"); corpus="fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d); cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    "$f" -max_total_time="${OLLMLX_FUZZ_SECONDS:-30}" -print_final_stats=1 "$work" 2>&1 | tail -3
    rm -rf "$work"
  done
fi
echo "== all tests passed"
