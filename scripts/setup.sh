#!/usr/bin/env bash
# Installs what fn-runner needs from Debian 12 (only what is missing) and
# builds it into ./build. Idempotent; safe to run on every invocation.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libuv1-dev libboost-dev libspdlog-dev nlohmann-json3-dev
  libseccomp-dev libcap-dev busybox-static libarchive-dev libssl-dev
  libgtest-dev libgmock-dev openssl procps crun runc libhttp-parser-dev
  clang-14 libclang-rt-14-dev  # scripts/fuzz.sh (libFuzzer); the main build stays g++
  libsystemd-dev
  libmicrohttpd-dev  # the Prometheus metrics endpoint
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
ninja -C build
