#pragma once
// fn-runner-bench coldstart: the time to first response byte of a call
// whose container must be made first, beside what `runc run` and `crun run`
// take merely to start /bin/true from the same root filesystem, and beside
// a bare posix_spawn of /bin/true; all four interleaved in one run, so the
// ratios hold on a noisy machine.
#include "bench/options.h"

namespace fnr::bench {

// Prints "key: value" lines; returns the process exit code (non-zero when
// the runner's calls failed; an unavailable OCI runtime is only reported).
int run_coldstart(const Options& options);

}  // namespace fnr::bench
