// Privileges: the function runs as an unprivileged uid/gid with no
// supplementary groups and an empty capability set, bounding set included,
// so not even a setuid-root binary could give capabilities back.
#include <grp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "worker/sandbox/sandbox.h"

namespace fnr::sandbox {

const char* drop_privileges(const SandboxSpec& spec) {
  for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (cap_drop_bound(cap) != 0 && CAP_IS_SUPPORTED(cap)) return "drop the capability bounding set";
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return "clear ambient caps";
  if (setgroups(0, nullptr) != 0) return "setgroups";
  if (setresgid(spec.gid, spec.gid, spec.gid) != 0) return "setresgid";
  if (setresuid(spec.uid, spec.uid, spec.uid) != 0) return "setresuid";
  // Switching away from uid 0 clears permitted and effective sets; clear
  // inheritable too, and check nothing is left.
  cap_t empty = cap_init();
  const bool ok = empty != nullptr && cap_set_proc(empty) == 0;
  cap_free(empty);
  return ok ? nullptr : "clear capabilities";
}

}  // namespace fnr::sandbox
