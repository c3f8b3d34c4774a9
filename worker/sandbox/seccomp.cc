// Seccomp: no_new_privs (required to load a filter unprivileged, and what
// makes setuid binaries harmless), then the precompiled filter.
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include "worker/sandbox/sandbox.h"

namespace fnr::sandbox {

const char* apply_seccomp(const std::vector<sock_filter>& filter) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "no_new_privs";
  sock_fprog prog{static_cast<unsigned short>(filter.size()),
                  const_cast<sock_filter*>(filter.data())};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return "load the seccomp filter";
  return nullptr;
}

}  // namespace fnr::sandbox
