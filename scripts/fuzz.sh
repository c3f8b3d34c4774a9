#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang in ./build-fuzz
# (the main build stays g++ in ./build) and runs each for a bounded time on
# a copy of its seed corpus (tests/fuzz/corpus/<target>/). Prints the
# executions per target; exits non-zero if any target crashes.
#   FUZZ_SECONDS=20   time per target
#   FUZZ_TARGETS="frame_decoder call_json http_response"
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_TARGETS=${FUZZ_TARGETS:-"frame_decoder call_json http_response"}
CC=${FUZZ_CC:-clang-14}
CXX=${FUZZ_CXX:-clang++-14}

if ! command -v "$CXX" >/dev/null ||
  ! compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "fuzz: installing clang-14 libclang-rt-14-dev"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
fi

targets=()
for t in $FUZZ_TARGETS; do targets+=("${t}_fuzz"); done
CC=$CC CXX=$CXX cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFNR_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
ninja -C build-fuzz "${targets[@]}"

out=build-fuzz/fuzz-runs
rm -rf "$out"
mkdir -p "$out"
failed=()
summary=()
for t in $FUZZ_TARGETS; do
  corpus=$out/$t/corpus
  mkdir -p "$corpus" "$out/$t/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$corpus"/
  log=$out/$t/log.txt
  echo "fuzz: $t for ${FUZZ_SECONDS}s"
  rc=0
  # -fork/-jobs stay off: one process, one core, a predictable budget.
  "build-fuzz/${t}_fuzz" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
    -artifact_prefix="$out/$t/artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
  runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
  if ((rc != 0)) || [[ -z $runs ]]; then
    failed+=("$t")
    summary+=("$t: FAILED (exit $rc), log $log")
    echo "fuzz: $t FAILED (exit $rc); last lines of $log:"
    tail -n 40 "$log"
    ls "$out/$t/artifacts/" 2>/dev/null | sed 's/^/  artifact: /'
  else
    summary+=("$t: ${runs}s, ${cov}")
  fi
done

echo "fuzz summary:"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: crashed: ${failed[*]}"
  exit 1
fi
