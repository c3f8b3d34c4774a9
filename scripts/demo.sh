#!/usr/bin/env bash
# The main job: set up, build, start the runner with etc/fn-runner.json, run
# the bundled sample function through it over gRPC as an Fn LB would, print
# the answer, and stop the runner.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# The sample function as a real OCI image (static busybox + a shell script),
# imported into the runner's image store the way an operator would.
scripts/make-sample-image.sh build/sample-image >/dev/null
build/fn-runnerctl image import build/sample-image --name fnproject/hello:0.0.1 --images-dir build/images

log=$(mktemp /tmp/fn-runner-demo.XXXXXX.log)
build/fn-runner --config=etc/fn-runner.json 2>"$log" &
runner=$!
trap 'kill -TERM $runner 2>/dev/null || true; wait $runner 2>/dev/null || true' EXIT

addr=$(sed -n 's/.*"grpc_address": *"\([^"]*\)".*/\1/p' etc/fn-runner.json)
for _ in $(seq 100); do
  build/fn-runnerctl status --grpc "$addr" >/dev/null 2>&1 && break
  kill -0 $runner 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done

echo "== invoking fnproject/hello:0.0.1 on $addr (May-2018 LB behaviour)"
printf 'Fn' | build/fn-runnerctl invoke --addr "$addr" --image fnproject/hello:0.0.1
echo "== the same call as the April-2018 LB makes it"
printf 'Fn' | build/fn-runnerctl invoke --addr "$addr" --image fnproject/hello:0.0.1 --lb april
echo "== runner status"
build/fn-runnerctl status --grpc "$addr"

kill -TERM $runner
wait $runner
trap - EXIT
echo "== runner log"
cat "$log"
