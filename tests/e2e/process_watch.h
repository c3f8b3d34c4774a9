#pragma once
// Watching processes from the outside, the way an operator would check that
// a runner left nothing behind: pidfds to wait for an exit (event-based, no
// sleeping), /proc to find children and processes by an environment marker.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "shared/unique_fd.h"

namespace fnr::e2e {

// A pidfd on one process. A process that is already gone when opened counts
// as exited (there is nothing left to wait for).
class PidWatch {
 public:
  PidWatch() = default;
  explicit PidWatch(pid_t pid);

  [[nodiscard]] pid_t pid() const { return pid_; }
  // The pid was valid when the watch was opened.
  [[nodiscard]] bool opened() const { return fd_.valid(); }
  // Waits until the process has exited (the pidfd polls readable; a zombie
  // not yet reaped by its parent counts as exited). false on timeout.
  bool wait_exit(std::chrono::milliseconds timeout) const;
  [[nodiscard]] bool exited() const { return wait_exit(std::chrono::milliseconds(0)); }

 private:
  pid_t pid_ = 0;
  UniqueFd fd_;
};

// Thread ids of `pid`, from /proc/<pid>/task. Empty if the process is gone.
[[nodiscard]] std::vector<pid_t> threads_of(pid_t pid);
// Direct children of `pid` (those of all its threads), from
// /proc/<pid>/task/*/children. Empty if the process is gone.
[[nodiscard]] std::vector<pid_t> children_of(pid_t pid);

// Processes whose initial environment holds exactly `entry` ("KEY=VALUE").
// Zombies have no environment any more and are not listed.
[[nodiscard]] std::vector<pid_t> processes_with_env(const std::string& entry);

// Host paths of the cgroups `pid` is in below a runner's fn-runner/ base
// (one per v1 controller, or the one v2 directory).
[[nodiscard]] std::vector<std::string> container_cgroup_dirs(pid_t pid);

// Polls `pred` every few milliseconds until it holds or `timeout` passes.
// For state that has no event to wait on (ledger contents, log lines,
// counters); returns the last value of `pred`.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace fnr::e2e
