#pragma once
// pidfd_open(2) by syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C",
// so its wrapper cannot be linked from C++.
#include <sys/syscall.h>
#include <unistd.h>

namespace fnr {
inline int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U)); }
}  // namespace fnr
