// Resource limits a cgroup does not cover: open files and core dumps.
#include <sys/resource.h>

#include "worker/sandbox/sandbox.h"

namespace fnr::sandbox {

const char* apply_rlimits(const SandboxSpec& spec) {
  const rlimit nofile{spec.nofile, spec.nofile};
  if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) return "setrlimit NOFILE";
  const rlimit none{0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) return "setrlimit CORE";
  return nullptr;
}

}  // namespace fnr::sandbox
