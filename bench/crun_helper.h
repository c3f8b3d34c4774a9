#pragma once
// crun 1.8 refuses this kind of host's hybrid cgroups (v1 controllers plus
// a cgroup2 mount at /sys/fs/cgroup/unified: "cgroups in hybrid mode not
// supported"). The helper is a process forked from the bench while it is
// still single-threaded; it enters a private mount namespace, detaches that
// cgroup2 mount there only (the host keeps it), and runs crun on request,
// timing each run itself so that the relay costs nothing measured.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "bench/spawn_timer.h"
#include "shared/unique_fd.h"

namespace fnr::bench {

struct CrunSetup {
  std::string program;  // absolute path of crun
  std::string bundle;
  std::string state_root;
  std::string log_path;
};

class CrunHelper {
 public:
  // Must be called while the process has a single thread (before any gRPC
  // object exists). nullptr with `error` set when the helper cannot start
  // or cannot set up its mount namespace.
  static std::unique_ptr<CrunHelper> start(const CrunSetup& setup, std::string* error);
  // Stops the helper, which first deletes whatever crun left behind.
  ~CrunHelper();
  CrunHelper(const CrunHelper&) = delete;
  CrunHelper& operator=(const CrunHelper&) = delete;

  // One `crun run` of the bundle, timed in the helper.
  SpawnRun run(uint64_t seq);

 private:
  CrunHelper(pid_t pid, UniqueFd requests, UniqueFd replies)
      : pid_(pid), requests_(std::move(requests)), replies_(std::move(replies)) {}
  pid_t pid_;
  UniqueFd requests_;
  UniqueFd replies_;
};

}  // namespace fnr::bench
