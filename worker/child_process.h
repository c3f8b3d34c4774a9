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

#include "shared/pidfd_watch.h"
#include "shared/unique_fd.h"
#include "worker/sandbox/sandbox.h"

namespace fnr {

struct LaunchSpec {
  std::string path;               // executable, absolute
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "K=V"
  std::string cwd;
};

// Exit of a process as wait(2) reports it.
struct ExitStatus {
  bool signaled = false;
  int code = 0;  // exit code, or signal number when signaled
};

class ChildProcess {
 public:
  // Starts the process with stdin/stdout/stderr on fresh pipes: inside a
  // container when `sandbox` is given (SandboxError on failure), else as a
  // plain child in its own process group (development only). Either way it
  // gets SIGKILL if the worker dies. Throws std::runtime_error with context.
  static std::unique_ptr<ChildProcess> launch(uv_loop_t* loop, const LaunchSpec& spec,
                                              const SandboxSpec* sandbox,
                                              std::function<void(ExitStatus)> on_exit);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  // Kills the function and everything it started (the container's init, or
  // the process group).
  void kill_group() {
    if (watch_) watch_->kill();
  }
  UniqueFd take_stdin() { return std::move(stdin_); }
  UniqueFd take_stdout() { return std::move(stdout_); }
  UniqueFd take_stderr() { return std::move(stderr_); }

 private:
  ChildProcess() = default;
  void watch(uv_loop_t* loop, UniqueFd pidfd);
  void on_reaped(const siginfo_t& info);

  pid_t pid_ = -1;
  bool sandboxed_ = false;
  UniqueFd stdin_, stdout_, stderr_;
  std::function<void(ExitStatus)> on_exit_;
  // Last: it kills and reaps the function before the rest goes.
  std::unique_ptr<PidfdWatch> watch_;
};

}  // namespace fnr
