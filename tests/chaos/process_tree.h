#pragma once
// The host's processes as /proc shows them, read in one pass: who is whose
// parent. The chaos and soak programs use it to
// find the supervisor's workers and their functions (whatever thread spawned
// them: /proc/<pid>/task/<tid>/children lists only one thread's children),
// and to measure the supervisor from outside.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fnr::chaos {

class ProcessTree {
 public:
  // Reads /proc now. Processes that vanish while it reads are skipped.
  static ProcessTree scan();

  [[nodiscard]] std::vector<pid_t> children(pid_t pid) const;
  // Children, grandchildren, ... of `pid`, not `pid` itself.
  [[nodiscard]] std::vector<pid_t> descendants(pid_t pid) const;
  [[nodiscard]] pid_t parent(pid_t pid) const;  // 0 if unknown

 private:
  std::map<pid_t, pid_t> parent_;
  std::map<pid_t, std::vector<pid_t>> children_;
};

// VmRSS of `pid` in KiB, 0 if it is gone.
[[nodiscard]] uint64_t rss_kib(pid_t pid);
// Number of open fds of `pid` (entries of /proc/<pid>/fd), -1 if it is gone.
[[nodiscard]] int fd_count(pid_t pid);
// Open fds of `pid` and how many of them are pidfds, from one listing of
// /proc/<pid>/fd (the supervisor holds one pidfd per worker).
struct FdKinds {
  int total = -1;  // -1: gone
  int pidfds = 0;
};
[[nodiscard]] FdKinds fd_kinds(pid_t pid);
// What each open fd of `pid` points at ("socket:[123]", "/dev/null", ...),
// sorted, for saying which fds leaked.
[[nodiscard]] std::vector<std::string> fd_targets(pid_t pid);
// The pid's command name (/proc/<pid>/comm), "" if gone.
[[nodiscard]] std::string comm(pid_t pid);

// Sends `sig` to `pid` through a pidfd, after checking (with the pidfd open,
// so the pid cannot be reused under us) that its parent is still `parent`.
// false if the process is gone or no longer that parent's.
bool signal_child_of(pid_t pid, pid_t parent, int sig);

}  // namespace fnr::chaos
