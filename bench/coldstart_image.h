#pragma once
// The cold-start bench's function image, built without a container engine:
// an OCI image layout with one uncompressed layer holding a static busybox
// (bin/busybox, bin/true and bin/sh links to it, so an OCI runtime can run
// /bin/true from the very same root) and the static echo function as the
// entrypoint, plus the mount points the runner and the OCI runtimes need
// (dev, proc, sys, tmp). Throws std::runtime_error naming what failed.
#include <string>

namespace fnr::bench {

struct EchoImageFiles {
  std::string busybox = "/bin/busybox";  // static (Debian's busybox-static)
  std::string function;                  // static echo function (fn-test-func)
};

inline constexpr const char* kEchoEntrypoint = "/function/echo";

// Writes the layout into `dir` (created if missing).
void write_echo_image_layout(const std::string& dir, const EchoImageFiles& files);

}  // namespace fnr::bench
