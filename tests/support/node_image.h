#pragma once
// Images of real Node FDK functions (tests/node/*.js), built the way a user
// would ship one, without a container engine: the host's node binary with
// every shared library it loads (the dynamic loader at its absolute path),
// @fnproject/fdk installed by `npm ci` from tests/node/package-lock.json,
// and one handler as /function/func.js; Entrypoint
// ["/usr/bin/node", "/function/func.js"].
//
// Everything slow is cached on disk under `cache_dir` (the build dir), so a
// test run pays it once, even when ctest starts a process per test:
//   <cache_dir>/node_modules-<key>/   npm ci's result, keyed by the lockfile
//   <cache_dir>/npm-cache/            npm's download cache
//   <cache_dir>/layouts/base-<key>/   the OCI layout of node, its libraries
//                                     and the FDK, keyed by all of them
//   <cache_dir>/layouts/<handler>-<key>/  the base plus the handler's layer
//                                     (the base's blobs hard-linked)
// Entries are built in a temp dir and renamed into place: one that exists
// is complete. A first run (npm ci and the ~100 MB base) takes 2 to 3 s; an
// import into a runner's store after that about 0.3 s.
#include <string>
#include <vector>

namespace fnr::test_support {

struct NodeImageSource {
  std::string node_dir;   // tests/node: package.json, package-lock.json, <handler>.js
  std::string cache_dir;  // e.g. <build>/node-fdk
};

// What keeps Node FDK images from being built here (no node or npm on
// PATH, no lockfile), "" when nothing does.
[[nodiscard]] std::string node_image_unavailable(const NodeImageSource& src);

// The host's node, resolved through PATH and symlinks.
[[nodiscard]] std::string host_node_binary();

// The files the host's node needs to run: the binary's shared libraries as
// the dynamic loader resolves them (ldd), the loader itself included. Host
// paths, as the binary names them (e.g. /lib64/ld-linux-x86-64.so.2).
[[nodiscard]] std::vector<std::string> node_runtime_files(const std::string& node_binary);

// The OCI image layout for tests/node/<handler>.js (handler "echo" for
// echo.js), built on first use and cached. Throws std::runtime_error with
// the reason (npm's output included) on failure.
[[nodiscard]] std::string node_image_layout(const NodeImageSource& src, const std::string& handler);

// node_image_layout(), then imported into the image store at `images_dir`
// as `ref` with the store's own import.
void import_node_image(const std::string& images_dir, const std::string& ref,
                       const NodeImageSource& src, const std::string& handler);

}  // namespace fnr::test_support
