#include "supervisor/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "shared/pidfd.h"

namespace fnr {
namespace {

std::runtime_error sys_error(const std::string& what, int err = errno) {
  return std::runtime_error(what + ": " + std::strerror(err));
}

// posix_spawn file actions and attributes, released however we leave.
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

SpawnedWorker spawn_worker(const std::string& worker_path, const std::string& log_level,
                           int seccomp_fd) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw sys_error("socketpair");
  UniqueFd ours(fds[0]), theirs(fds[1]);
  // The sources of the dup2s below must not be their targets (3, 4): one
  // would overwrite the other, and dup2(3, 3) would keep FD_CLOEXEC set.
  if (theirs.get() <= 4) {
    theirs.reset(fcntl(theirs.get(), F_DUPFD_CLOEXEC, 5));
    if (!theirs) throw sys_error("fcntl(F_DUPFD_CLOEXEC)");
  }
  if (seccomp_fd >= 0 && seccomp_fd <= 4) {
    throw std::runtime_error("spawn_worker: the seccomp fd must be above 4");
  }

  SpawnSetup s;
  posix_spawn_file_actions_adddup2(&s.actions, theirs.get(), 3);
  if (seccomp_fd >= 0) posix_spawn_file_actions_adddup2(&s.actions, seccomp_fd, 4);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &defaults);
  posix_spawnattr_setpgroup(&s.attr, 0);
  posix_spawnattr_setflags(&s.attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::string parent = "FNR_PARENT_PID=" + std::to_string(getpid());
  std::string level = "FN_LOG_LEVEL=" + log_level;
  std::string seccomp = "FNR_SECCOMP_FD=4";
  std::vector<char*> envp = {parent.data(), level.data(),
                             seccomp_fd >= 0 ? seccomp.data() : nullptr, nullptr};
  std::string arg0 = worker_path;
  std::vector<char*> argv = {arg0.data(), nullptr};

  pid_t pid = -1;
  if (int rc =
          posix_spawn(&pid, worker_path.c_str(), &s.actions, &s.attr, argv.data(), envp.data());
      rc != 0) {
    throw sys_error("posix_spawn " + worker_path, rc);
  }
  SpawnedWorker w;
  w.pid = pid;
  // Nobody else reaps our children, so the pid cannot have been reused.
  w.pidfd.reset(pidfd_open(pid));
  if (!w.pidfd) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    throw sys_error("pidfd_open", err);
  }
  w.socket = std::move(ours);
  return w;
}

WorkerProcess::WorkerProcess(uv_loop_t* loop, pid_t pid, UniqueFd pidfd,
                             std::function<void(int)> on_exit)
    : watch_(loop, pid, std::move(pidfd), [on_exit = std::move(on_exit)](const siginfo_t& info) {
        if (on_exit) on_exit(wait_status_of(info));
      }) {}

}  // namespace fnr
