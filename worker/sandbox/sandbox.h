#pragma once
// Starting a function inside a container: fresh pid, mount, ipc, uts and
// (by default) net namespaces, the image's root filesystem read-only, a
// private /tmp, /proc and a minimal /dev, a cgroup, rlimits, an
// unprivileged uid/gid with every capability dropped, no_new_privs and a
// seccomp filter. Each kernel concern has its own file here; this one
// strings them together in the order the kernel requires.
//
// Process shape: the worker clone3()s a container init (pid 1 inside),
// which sets up the mounts and forks the function. The init reaps every
// zombie and exits with the function's status; when it exits the kernel
// kills whatever else is left in the pid namespace.
#include <linux/filter.h>
#include <sys/types.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "shared/unique_fd.h"

namespace fnr {

// A host directory made visible inside the container (e.g. the
// http-stream socket directory at /tmp/iofs). `target` is created on the
// container's /tmp tmpfs, so it must lie under /tmp.
struct BindMount {
  std::string source;
  std::string target;
};

struct SandboxSpec {
  std::string rootfs;       // the image's unpacked root, bind-mounted read-only
  std::string workdir = "/";
  uid_t uid = 65534;
  gid_t gid = 65534;
  bool share_host_network = false;
  uint32_t tmpfs_mib = 64;
  uint32_t nofile = 1024;
  std::string hostname = "fn";
  const std::vector<sock_filter>* seccomp = nullptr;  // required
  std::vector<int> cgroup_procs_fds;                  // the child joins these first
  std::vector<BindMount> binds;
};

struct SandboxLaunch {
  std::vector<std::string> argv;  // argv[0] resolved against PATH in env
  std::vector<std::string> env;   // "K=V"
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
};

struct SandboxProcess {
  pid_t pid = -1;  // the container's init, as the worker sees it
  UniqueFd pidfd;
};

// Starts the container and waits until the function has exec'd or setup
// failed. Throws SandboxError with the step and errno that failed.
class SandboxError : public std::runtime_error {
 public:
  SandboxError(const std::string& what, bool user_fault)
      : std::runtime_error(what), user_fault_(user_fault) {}
  [[nodiscard]] bool user_fault() const { return user_fault_; }

 private:
  bool user_fault_;
};
SandboxProcess start_sandbox(const SandboxSpec& spec, const SandboxLaunch& launch);

// Decodes the container init's exit code into the function's own status.
struct FunctionExit {
  bool signaled = false;
  int code = 0;
};
FunctionExit decode_init_exit(int init_exit_code);

// --- steps, one file each; all run in the child and report by errno -----
namespace sandbox {
// namespaces.cc
pid_t clone_into_namespaces(bool new_net, int* pidfd);
bool bring_up_loopback();
// mounts.cc: everything up to and including pivot_root. Returns the
// failed step's name, or nullptr on success.
const char* setup_mounts(const SandboxSpec& spec);
// rlimits.cc
const char* apply_rlimits(const SandboxSpec& spec);
// caps.cc: drops every capability and switches to the spec's uid/gid.
const char* drop_privileges(const SandboxSpec& spec);
// seccomp.cc: no_new_privs, then the filter.
const char* apply_seccomp(const std::vector<sock_filter>& filter);
}  // namespace sandbox

}  // namespace fnr
