#pragma once
// Starting a worker and watching it die. Workers are started with
// posix_spawn (a vfork-style clone in glibc), never with fork(): the
// supervisor is a big multithreaded process and fork() would copy its page
// tables on every call. The call's socket becomes the worker's fd 3.
#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <string>

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
  WorkerProcess(uv_loop_t* loop, pid_t pid, UniqueFd pidfd, std::function<void(int)> on_exit);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool exited() const { return reaped_; }
  void kill();

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);
  pid_t pid_;
  UniqueFd pidfd_;
  uv_poll_t* poll_ = nullptr;
  bool reaped_ = false;
  std::function<void(int)> on_exit_;  // wait status
};

}  // namespace fnr
