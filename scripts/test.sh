#!/usr/bin/env bash
# Sets up, builds and runs every test (unit and end to end) with ctest.
# End-to-end tests start the real fn-runner; they need root for nothing in
# this build, but later sandbox tests do, and skip loudly without it.
# With CI=true or FNR_FUZZ_IN_TESTS=1, scripts/fuzz.sh runs afterwards
# (FUZZ_SECONDS per target, 20 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure --timeout 300 "$@"
cd ..
# Bounded fuzzing (libFuzzer, a clang build in build-fuzz): in CI, or on demand.
if [[ ${FNR_FUZZ_IN_TESTS:-0} == 1 || ${CI:-} == true ]]; then
  scripts/fuzz.sh
fi
