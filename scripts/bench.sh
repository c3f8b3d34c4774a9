#!/usr/bin/env bash
# The bench figures the issues ask for, each beside a baseline measured in
# the same run (these machines are noisy: read the ratios):
#   - a tiny echo call through the runner at c=1 (latency) and c=16
#     (calls/s), beside a raw gRPC bidi ping-pong;
#   - a hot http-stream call (native echo function, then a Node FDK one) at
#     c=1 and c=16, beside the same ping-pong and beside a fake runner that
#     answers every Engage at once (the floor of the protocol's message
#     pattern: new stream, try, ack, data, result, finished, status), and
#     at c=1 beside the design's floor (that fake runner plus two Unix
#     socket round trips: supervisor <-> worker, worker <-> function);
#   - a cold call (Try to first byte, fresh container) beside runc/crun run
#     of /bin/true from the same root filesystem and a bare posix_spawn.
# Usage: scripts/bench.sh [N]   (N calls per measurement, default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${SKIP_SETUP:-} == 1 ]] || scripts/setup.sh >/dev/null
n=${1:-2000}

work=$(mktemp -d /tmp/fn-runner-bench.XXXXXX)
runner=
cleanup() {
  [[ -n $runner ]] && kill -TERM "$runner" 2>/dev/null && wait "$runner" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

scripts/make-sample-image.sh "$work/echo-oci" build/fn-test-func >/dev/null
build/fn-runnerctl image import "$work/echo-oci" --name bench/echo:1 --images-dir "$work/images" >/dev/null
# A native http-stream echo function: a hot container serves call after call.
scripts/make-sample-image.sh "$work/hs-oci" build/fn-test-hsfunc >/dev/null
build/fn-runnerctl image import "$work/hs-oci" --name bench/hs-echo:1 --images-dir "$work/images" >/dev/null
# The Node FDK echo, built as the tests build it (npm ci from the lockfile).
node_ref=
if layout=$(build/fn-test-node-image tests/node build/node-fdk echo 2>"$work/node.err"); then
  build/fn-runnerctl image import "$layout" --name bench/node-echo:1 --images-dir "$work/images" >/dev/null
  node_ref=bench/node-echo:1
else
  echo "Node FDK image unavailable: $(cat "$work/node.err")" >&2
fi
port=$((20000 + RANDOM % 20000))
build/fn-runner --grpc-address=127.0.0.1:$port --images-dir="$work/images" \
  --ledger-name="fnr-bench-$$" --log-level=warn 2>"$work/runner.log" &
runner=$!
for _ in $(seq 100); do
  build/fn-runnerctl status --ledger "fnr-bench-$$" --grpc 127.0.0.1:$port >/dev/null 2>&1 && break
  sleep 0.1
done

common=(--addr 127.0.0.1:$port --image bench/echo:1 --size 5 --memory 64)
echo "== c=1: a tiny echo call (cold container each time: default format) vs raw gRPC ping-pong"
build/fn-runner-bench both "${common[@]}" --c 1 --n "$n" --warmup 20
echo "== c=16"
build/fn-runner-bench both "${common[@]}" --c 16 --n "$n" --warmup 32
hot=(--addr 127.0.0.1:$port --image bench/hs-echo:1 --format http-stream --size 5 --memory 64)
echo "== hot http-stream echo (one container per concurrent stream), c=1, vs raw gRPC ping-pong"
build/fn-runner-bench both "${hot[@]}" --c 1 --n "$n" --warmup 50
echo "== the same calls against a fake runner that answers at once (protocol floor), c=1"
build/fn-runner-bench engage --addr fake --size 5 --c 1 --n "$n" --warmup 50
echo "== hot http-stream echo, c=16"
build/fn-runner-bench both "${hot[@]}" --c 16 --n $((n * 5)) --warmup 200
echo "== fake runner (protocol floor), c=16"
build/fn-runner-bench engage --addr fake --size 5 --c 16 --n $((n * 5)) --warmup 200
# The LB emulator spends ~160 µs of CPU per call on these 2 shared cores;
# one async thread spends ~50 µs, leaving the runner what an LB on another
# machine would.
echo "== hot http-stream echo, c=1, lean load (--driver async), beside its floor: ping-pong,"
echo "   fake runner, a Unix socket round trip (one relay), the call; floor = fake + 2 relays"
build/fn-runner-bench floor "${hot[@]}" --driver async --c 1 --n "$n" --warmup 50
echo "== hot http-stream echo, c=16, lean load"
build/fn-runner-bench engage "${hot[@]}" --driver async --c 16 --n $((n * 10)) --warmup 200
echo "== fake runner (protocol floor), c=16, lean load"
build/fn-runner-bench engage --addr fake --size 5 --driver async --c 16 --n $((n * 10)) --warmup 200
if [[ -n $node_ref ]]; then
  node=(--addr 127.0.0.1:$port --image "$node_ref" --format http-stream --size 5 --memory 128)
  echo "== hot Node FDK echo (fdk-node from tests/node/package-lock.json), c=1"
  build/fn-runner-bench both "${node[@]}" --c 1 --n "$n" --warmup 50
  echo "== hot Node FDK echo, c=16"
  build/fn-runner-bench both "${node[@]}" --c 16 --n $((n * 2)) --warmup 200
  echo "== hot Node FDK echo, c=16, lean load"
  build/fn-runner-bench engage "${node[@]}" --driver async --c 16 --n $((n * 4)) --warmup 200
fi
echo "== cold start vs runc/crun/posix_spawn"
build/fn-runner-bench coldstart --n 200
