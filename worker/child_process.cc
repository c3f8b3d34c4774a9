#include "worker/child_process.h"

#include "shared/uv_handles.h"

#include <fcntl.h>
#include <signal.h>
#include "shared/pidfd.h"
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "worker/c_strings.h"
#include <stdexcept>

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
[[noreturn]] void exec_child(const LaunchSpec& spec, char* const* argv, char* const* envp,
                             int in, int out, int err, pid_t parent) {
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
  child->on_exit_ = std::move(on_exit);

  if (sandbox != nullptr) {
    SandboxLaunch l{spec.argv, spec.env, in.read.get(), out.write.get(), err.write.get()};
    SandboxProcess p = start_sandbox(*sandbox, l);
    child->pid_ = p.pid;
    child->pidfd_ = std::move(p.pidfd);
    child->sandboxed_ = true;
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
    child->pidfd_.reset(pidfd_open(pid));
    if (!child->pidfd_) throw sys_error("pidfd_open");
  }
  child->stdin_ = std::move(in.write);
  child->stdout_ = std::move(out.read);
  child->stderr_ = std::move(err.read);
  child->watch(loop);
  return child;
}

void ChildProcess::watch(uv_loop_t* loop) {
  poll_ = new uv_poll_t{};
  if (int rc = uv_poll_init(loop, poll_, pidfd_.get()); rc != 0) {
    delete poll_;
    poll_ = nullptr;
    throw std::runtime_error(std::string("uv_poll_init(pidfd): ") + uv_strerror(rc));
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, on_pidfd);
}

void ChildProcess::on_pidfd(uv_poll_t* poll, int /*status*/, int /*events*/) {
  auto* self = static_cast<ChildProcess*>(poll->data);
  if (self == nullptr || self->reaped_) return;
  // Leftovers of the function die with it. The leader is still an unreaped
  // zombie here, so its pid (the group id) cannot have been reused yet. (A
  // container's leftovers died with its init's pid namespace.)
  if (!self->sandboxed_) kill(-self->pid_, SIGKILL);
  siginfo_t info{};
  if (waitid(P_PIDFD, self->pidfd_.get(), &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) {
    return;
  }
  self->reaped_ = true;
  uv_poll_stop(poll);
  ExitStatus st;
  st.signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
  st.code = info.si_status;
  if (self->sandboxed_ && !st.signaled) {
    const FunctionExit f = decode_init_exit(st.code);
    st.signaled = f.signaled;
    st.code = f.code;
  }
  if (self->on_exit_) self->on_exit_(st);
}

void ChildProcess::kill_group() {
  if (reaped_) return;
  // A container's init takes its whole pid namespace with it.
  if (!sandboxed_) kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
}

ChildProcess::~ChildProcess() {
  close_and_free(poll_);
  if (pid_ > 0 && !reaped_) {
    kill_group();
    siginfo_t info{};
    waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED);
  }
}

}  // namespace fnr
