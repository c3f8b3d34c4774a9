#pragma once
// The function's process: how it is started is the seam where the sandbox
// plugs in (launch()), and what happens to it afterwards is RAII: an object
// that dies with its process still running kills the process group and
// reaps it, so no code path can leave a function behind.
#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shared/unique_fd.h"

namespace fnr {

struct LaunchSpec {
  std::string path;                // executable, absolute
  std::vector<std::string> argv;   // argv[0] included
  std::vector<std::string> env;    // "K=V"
  std::string cwd;
};

// Exit of a process as wait(2) reports it.
struct ExitStatus {
  bool signaled = false;
  int code = 0;  // exit code, or signal number when signaled
};

class ChildProcess {
 public:
  // Starts the process in its own process group with stdin/stdout/stderr on
  // fresh pipes, and arranges for SIGKILL if the worker dies. Throws
  // std::runtime_error with context on failure.
  static std::unique_ptr<ChildProcess> launch(uv_loop_t* loop, const LaunchSpec& spec,
                                              std::function<void(ExitStatus)> on_exit);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  // Kills the whole process group (the function and what it forked).
  void kill_group();
  UniqueFd take_stdin() { return std::move(stdin_); }
  UniqueFd take_stdout() { return std::move(stdout_); }
  UniqueFd take_stderr() { return std::move(stderr_); }

 private:
  ChildProcess() = default;
  static void on_pidfd(uv_poll_t* poll, int status, int events);

  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd pidfd_;
  UniqueFd stdin_, stdout_, stderr_;
  uv_poll_t* poll_ = nullptr;  // freed in its close callback
  std::function<void(ExitStatus)> on_exit_;
};

}  // namespace fnr
