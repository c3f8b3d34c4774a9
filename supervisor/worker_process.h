#pragma once
// Starting a worker and watching it die. Workers are started with
// posix_spawn (a vfork-style clone in glibc), never with fork(): the
// supervisor is a big multithreaded process and fork() would copy its page
// tables on every call. The call's socket becomes the worker's fd 3.
#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <string>

#include "shared/pidfd_watch.h"
#include "shared/unique_fd.h"

namespace fnr {

struct SpawnedWorker {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd socket;  // the supervisor's end
};

// Throws std::runtime_error with context on failure. `seccomp_fd` (or -1)
// becomes the worker's fd 4.
SpawnedWorker spawn_worker(const std::string& worker_path, const std::string& log_level,
                           int seccomp_fd);

// A spawned worker on the loop thread: reports its exit once, kills it on
// request, and kills and reaps it if destroyed while it still runs.
class WorkerProcess {
 public:
  // `on_exit` gets the wait status.
  WorkerProcess(uv_loop_t* loop, pid_t pid, UniqueFd pidfd, std::function<void(int)> on_exit);
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return watch_.pid(); }
  [[nodiscard]] bool exited() const { return watch_.reaped(); }
  void kill() { watch_.kill(); }

 private:
  PidfdWatch watch_;
};

}  // namespace fnr
