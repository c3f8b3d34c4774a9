#pragma once
// What a runner may leave behind, checked from outside the way an operator
// would: capacity in the ledger, worker and function processes, container
// cgroups, mounts, socket files and scratch dirs, the supervisor's fds. Each
// check returns one line per leak ("" free), so a run can list them all.
#include <string>
#include <vector>

#include "tests/chaos/chaos_runner.h"

namespace fnr::chaos {

// The supervisor's fds when it was idle, to compare with later.
struct FdBaseline {
  int count = 0;
  std::vector<std::string> targets;
};
[[nodiscard]] FdBaseline fd_baseline(pid_t supervisor);

// While the runner still runs and should be idle (every call ended, idle
// containers reaped): nothing reserved or listed in the ledger, no process
// under the supervisor but spare workers, no function process anywhere, no
// container cgroup, no mount under the runner's dirs, an empty instance
// runtime dir, the fds back at `baseline` (unless nullptr).
[[nodiscard]] std::vector<std::string> leaks_while_idle(ChaosRunner& runner,
                                                        const FdBaseline* baseline);

// After the runner exited: no worker of that supervisor running anywhere, no
// function process, no cgroup of the instance (its own directories
// included), no mount, no socket file or scratch dir (the instance's dir
// included), no ledger segment.
[[nodiscard]] std::vector<std::string> leaks_after_exit(ChaosRunner& runner);

}  // namespace fnr::chaos
