#!/usr/bin/env bash
# Configures and builds one flavour of Tollgate into build/<flavour>.
#   release  Release build of the gateway, tools and tests (default)
#   asan     GCC ASan+UBSan build of everything, at -O0 -g1: line tables are all sanitizer traces
#            need, and -O2 made the coroutine-heavy files take minutes each under instrumentation
#   fuzz     clang build of the parser libraries and their libFuzzer targets only
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
# TOLLGATE_TESTS=OFF builds only the gateway and its tools (what the run command needs: the
# test tree wants GoogleTest and Node.js, which only the test command installs).
tests="${TOLLGATE_TESTS:-ON}"
jobs="${JOBS:-$(nproc)}"
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" -DTOLLGATE_SANITIZE=ON -DCMAKE_CXX_COMPILER=g++) ;;
  fuzz) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOLLGATE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14) ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
cmake -S . -B "build/$flavour" -G Ninja "${args[@]}" -DTOLLGATE_TESTS="$tests" >/dev/null
cmake --build "build/$flavour" -j "$jobs"
