#include "worker/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "shared/pidfd.h"
#include "shared/uv_handles.h"
#include "worker/c_strings.h"

namespace fnr {
namespace {

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

struct PipePair {
  UniqueFd read, write;
};

PipePair make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw sys_error("pipe2");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Runs in the forked child: only async-signal-safe calls until execve.
[[noreturn]] void exec_child(const LaunchSpec& spec, char* const* argv, char* const* envp, int in,
                             int out, int err, pid_t parent) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The worker may have died between fork and prctl: then no signal comes.
  if (getppid() != parent) _exit(127);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(126);
  if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) _exit(126);
  execve(spec.path.c_str(), argv, envp);
  _exit(127);
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::launch(uv_loop_t* loop, const LaunchSpec& spec,
                                                   const SandboxSpec* sandbox,
                                                   std::function<void(ExitStatus)> on_exit) {
  PipePair in = make_pipe(), out = make_pipe(), err = make_pipe();
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  UniqueFd pidfd;
  child->on_exit_ = std::move(on_exit);

  if (sandbox != nullptr) {
    SandboxLaunch l{spec.argv, spec.env, in.read.get(), out.write.get(), err.write.get()};
    SandboxProcess p = start_sandbox(*sandbox, l);
    child->pid_ = p.pid;
    child->sandboxed_ = true;
    pidfd = std::move(p.pidfd);
  } else {
    std::vector<char*> argv = c_strings(spec.argv);
    std::vector<char*> envp = c_strings(spec.env);
    const pid_t parent = getpid();
    // The worker is small and single-threaded, so a plain fork is cheap here
    // (the supervisor, which is neither, never forks).
    const pid_t pid = fork();
    if (pid < 0) throw sys_error("fork");
    if (pid == 0) {
      exec_child(spec, argv.data(), envp.data(), in.read.get(), out.write.get(), err.write.get(),
                 parent);
    }
    child->pid_ = pid;
    // Set the group from this side too, so kill_group() is right even if we
    // get there before the child ran setpgid.
    setpgid(pid, pid);
    pidfd.reset(pidfd_open(pid));
    if (!pidfd) {
      const std::runtime_error e = sys_error("pidfd_open");
      kill(-pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      throw e;
    }
  }
  child->stdin_ = std::move(in.write);
  child->stdout_ = std::move(out.read);
  child->stderr_ = std::move(err.read);
  child->watch(loop, std::move(pidfd));
  return child;
}

void ChildProcess::watch(uv_loop_t* loop, UniqueFd pidfd) {
  std::function<void()> kill_group;
  // A container's init takes its whole pid namespace with it; a plain
  // child's leftovers are found by its process group.
  if (!sandboxed_) kill_group = [pid = pid_] { kill(-pid, SIGKILL); };
  watch_ = std::make_unique<PidfdWatch>(
      loop, pid_, std::move(pidfd), [this](const siginfo_t& info) { on_reaped(info); },
      std::move(kill_group));
}

void ChildProcess::on_reaped(const siginfo_t& info) {
  ExitStatus st;
  st.signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
  st.code = info.si_status;
  if (sandboxed_ && !st.signaled) {
    const FunctionExit f = decode_init_exit(st.code);
    st.signaled = f.signaled;
    st.code = f.code;
  }
  if (on_exit_) on_exit_(st);
}

}  // namespace fnr
