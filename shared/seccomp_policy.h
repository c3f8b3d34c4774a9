#pragma once
// The seccomp filter every function runs under, compiled to BPF once by
// the supervisor (building it with libseccomp costs ~2.4 ms, too much per
// call) and handed to workers as a sealed memfd they load before exec.
//
// Policy: allow by default, and fail with EPERM the calls a function has no
// business making: everything that changes mounts, namespaces, kernel state
// or other processes' memory, plus the recent interfaces (io_uring, bpf,
// userfaultfd, the new mount API) that keep showing up in kernel exploits.
#include <linux/filter.h>

#include <vector>

#include "shared/unique_fd.h"

namespace fnr {

// Throws std::runtime_error if libseccomp fails.
std::vector<sock_filter> compile_seccomp_policy();

// The compiled filter in a sealed memfd (read-only for everyone after).
UniqueFd seccomp_policy_memfd(const std::vector<sock_filter>& filter);

// Reads a filter back from such an fd (pread: the offset is shared).
std::vector<sock_filter> read_seccomp_policy(int fd);

}  // namespace fnr
