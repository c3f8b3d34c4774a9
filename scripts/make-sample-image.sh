#!/usr/bin/env bash
# Builds the sample function's image as a real OCI image layout (what
# `skopeo copy ... oci:DIR` produces): one layer with a static busybox and
# examples/hello/func.sh. Usage: make-sample-image.sh OUT_DIR [STATIC_BINARY]
# With STATIC_BINARY, that program is the entrypoint instead of func.sh
# (the bench uses the static echo test function this way).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$1
entry_src=${2:-$src/examples/hello/func.sh}
entry=/function/$(basename "$entry_src")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

root=$work/rootfs
mkdir -p "$root/bin" "$root/proc" "$root/dev" "$root/tmp" "$root/function"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for tool in sh cat echo id hostname env ls; do ln -s busybox "$root/bin/$tool"; done
cp "$entry_src" "$root$entry"

rm -rf "$out"
mkdir -p "$out/blobs/sha256"
blob() {  # stores stdin as a blob, prints its digest hex
  local tmp=$work/blob; cat >"$tmp"
  local d; d=$(sha256sum "$tmp" | cut -d' ' -f1)
  mv "$tmp" "$out/blobs/sha256/$d"; echo "$d"
}
layer=$(tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . | blob)
layer_size=$(stat -c %s "$out/blobs/sha256/$layer")
config=$(printf '%s' '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["'"$entry"'"],"Env":["PATH=/bin"],"WorkingDir":"/function"},"rootfs":{"type":"layers","diff_ids":["sha256:'"$layer"'"]}}' | blob)
config_size=$(stat -c %s "$out/blobs/sha256/$config")
manifest=$(printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$config"'","size":'"$config_size"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$layer"'","size":'"$layer_size"'}]}' | blob)
manifest_size=$(stat -c %s "$out/blobs/sha256/$manifest")
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
printf '%s' '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$manifest"'","size":'"$manifest_size"',"annotations":{"org.opencontainers.image.ref.name":"0.0.1"}}]}' >"$out/index.json"
echo "$out: OCI layout, manifest sha256:$manifest"
