#pragma once
// A function's container as a worker owns it: the image resolved in the
// store, a cgroup sized from the call, and the process started in the
// sandbox. Destroying it kills everything inside and removes the cgroup.
// Formats (default, http, json, http-stream) build on this.
#include <linux/filter.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proto/worker.pb.h"
#include "shared/cgroup.h"
#include "worker/child_process.h"

namespace fnr {

struct ContainerError {
  int code;  // 502 when the image is to blame, 500 when the runner is
  std::string message;
};

class Container {
 public:
  using EnvBuilder = std::function<std::vector<std::string>(const std::vector<std::string>&)>;

  // nullptr with `error` set when the container could not start. `binds`
  // are host directories to show under /tmp inside (the sandbox only).
  static std::unique_ptr<Container> start(uv_loop_t* loop, const wire::CallSpec& spec,
                                          const std::vector<sock_filter>& seccomp,
                                          const EnvBuilder& env,
                                          std::function<void(ExitStatus)> on_exit,
                                          ContainerError* error,
                                          const std::vector<BindMount>& binds = {});
  ~Container();
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  ChildProcess& process() { return *process_; }
  void kill();
  // The kernel's OOM killer ended something in this container.
  [[nodiscard]] bool oom_killed() const { return cgroup_ && cgroup_->oom_killed(); }

 private:
  Container() = default;
  std::unique_ptr<Cgroup> cgroup_;  // outlives the process: declared first
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace fnr
