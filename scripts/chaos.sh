#!/usr/bin/env bash
# The chaos and soak programs at full length (ctest runs short versions,
# label "chaos"). As root: they run the sandboxed runner.
#   scripts/chaos.sh [chaos|soak|both] [extra flags for the program(s)]
# chaos: 500 calls, random SIGKILLs of workers and functions and client
#        cancels, then leak checks (seed printed; --seed=N replays a run).
# soak:  10 minutes at c=16, the supervisor's RSS and fds sampled and judged.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${SKIP_SETUP:-} == 1 ]] || scripts/setup.sh >/dev/null
what=${1:-both}
shift || true
ninja -C build fn-runner-chaos fn-runner-soak >/dev/null
case $what in
  chaos) build/fn-runner-chaos --calls=500 "$@" ;;
  soak) build/fn-runner-soak --duration=600 "$@" ;;
  both)
    build/fn-runner-chaos --calls=500
    build/fn-runner-soak --duration=600
    ;;
  *) echo "usage: $0 [chaos|soak|both] [flags]" >&2; exit 2 ;;
esac
