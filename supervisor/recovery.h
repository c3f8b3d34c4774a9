#pragma once
// Starting again after a crash. A runner instance is named by its ledger
// name; everything it creates lives under names derived from it (the shm
// ledger, <own cgroup>/fn-runner/<name>/, <runtime_dir>/<name>/), so a new
// supervisor of the same name can tell exactly what its predecessor left
// and remove it, without touching other runners on the host. Workers and
// containers of a SIGKILLed supervisor die by parent-death signals; this
// pass removes what those cannot: cgroups (killing anything still inside),
// scratch directories and the stale ledger.
#include <string>

#include "shared/cgroup.h"
#include "shared/config.h"
#include "shared/unique_fd.h"

namespace fnr {

// One supervisor per instance name: an flock on <runtime_root>/<name>.lock,
// held for the process's life. Invalid fd with `error` set when another
// supervisor holds it.
UniqueFd lock_instance(const std::string& runtime_root, const std::string& name,
                       std::string* error);

// Removes what a previous supervisor of this instance left behind. Logs
// what it found; never fails the start for a leftover it cannot remove.
void clean_previous_run(const std::string& ledger_name, const CgroupLayout& cgroups,
                        const std::string& runtime_dir);

// Clean exit, once every worker is gone: removes the instance's own cgroup
// directories (<own>/fn-runner/<name>) and scratch dir (<runtime_dir>), so
// that runners started under ever new names (tests, benches) do not pile
// them up on the host; anything found still inside is removed and logged.
void remove_instance(const CgroupLayout& cgroups, const std::string& runtime_dir);

}  // namespace fnr
