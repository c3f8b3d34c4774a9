#!/usr/bin/env bash
# Sets up, builds and runs every test (unit and end to end) with ctest.
# End-to-end tests start the real fn-runner; they need root for nothing in
# this build, but later sandbox tests do, and skip loudly without it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure --timeout 300 "$@"
