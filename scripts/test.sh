#!/usr/bin/env bash
# The README's second command: installs what is missing, then builds and runs the whole suite
# three ways: a Release build, a GCC ASan+UBSan build, and the clang libFuzzer smoke runs.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/install-deps.sh --test
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

passed=0
run_suite() {
  local flavour="$1"
  echo "=== $flavour: build"
  bash scripts/build.sh "$flavour"
  echo "=== $flavour: test"
  ctest --test-dir "build/$flavour" --output-on-failure -j "$(nproc)" --timeout 600 | tee "build/$flavour/ctest.log"
  # ctest exits non-zero on any failure (set -e and pipefail stop the script); count what ran.
  passed=$((passed + $(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "build/$flavour/ctest.log")))
}

run_suite release
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 run_suite asan
run_suite fuzz
echo "=== all suites passed in $(( $(date +%s) - start )) s"
echo "$passed passed, 0 failed"
