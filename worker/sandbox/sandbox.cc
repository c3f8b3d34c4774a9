#include "worker/sandbox/sandbox.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "worker/c_strings.h"

namespace fnr {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Messages from the child that blame the function's image, not the runner.
constexpr const char* kUserFaultPrefix = "exec ";


// Child side: tell the worker which step failed and why, then die.
[[noreturn]] void fail(int err_fd, const std::string& step) {
  const std::string msg = step + ": " + std::strerror(errno);
  (void)!write(err_fd, msg.data(), msg.size());
  _exit(126);
}

std::string path_of(const std::vector<std::string>& env) {
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) return e.substr(5);
  }
  return kDefaultPath;
}

// execvpe() searches the *caller's* PATH; the function's PATH is in envp.
void exec_in_path(const std::string& file, char* const* argv, char* const* envp,
                  const std::string& path) {
  if (file.find('/') != std::string::npos) {
    execve(file.c_str(), argv, envp);
    return;
  }
  int first_err = ENOENT;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find(':', start), path.size());
    const std::string dir = path.substr(start, end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + file;
    execve(candidate.c_str(), argv, envp);
    if (errno != ENOENT && first_err == ENOENT) first_err = errno;
    start = end + 1;
  }
  errno = first_err;
}

[[noreturn]] void run_function(const SandboxSpec& spec, const SandboxLaunch& launch, char* const* argv,
                               char* const* envp, int err_fd) {
  setsid();
  if (dup2(launch.stdin_fd, 0) < 0 || dup2(launch.stdout_fd, 1) < 0 ||
      dup2(launch.stderr_fd, 2) < 0) {
    fail(err_fd, "dup2 stdio");
  }
  // Whatever else the worker had open must not reach the function.
  syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  if (const char* step = sandbox::apply_rlimits(spec)) fail(err_fd, step);
  if (chdir(spec.workdir.c_str()) != 0) fail(err_fd, std::string(kUserFaultPrefix) + "chdir " + spec.workdir);
  if (const char* step = sandbox::drop_privileges(spec)) fail(err_fd, step);
  if (const char* step = sandbox::apply_seccomp(*spec.seccomp)) fail(err_fd, step);
  exec_in_path(launch.argv[0], argv, envp, path_of(launch.env));
  fail(err_fd, std::string(kUserFaultPrefix) + launch.argv[0]);
}

// pid 1 of the container: reaps every zombie, and leaves with the
// function's status (its exit tears the namespace down).
[[noreturn]] void run_init(const SandboxSpec& spec, const SandboxLaunch& launch, char* const* argv,
                           char* const* envp, int err_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  for (int fd : spec.cgroup_procs_fds) {
    if (write(fd, "0", 1) != 1) fail(err_fd, "join the container's cgroup");
  }
  if (const char* step = sandbox::setup_mounts(spec)) fail(err_fd, step);
  if (sethostname(spec.hostname.data(), spec.hostname.size()) != 0) fail(err_fd, "sethostname");
  if (!spec.share_host_network && !sandbox::bring_up_loopback()) fail(err_fd, "bring up loopback");

  const pid_t fn = fork();
  if (fn < 0) fail(err_fd, "fork the function");
  if (fn == 0) run_function(spec, launch, argv, envp, err_fd);

  // Only the function may hold its stdio pipes: their EOF is its EOF.
  syscall(SYS_close_range, 0U, ~0U, 0U);
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid == fn) {
      _exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
    }
    if (pid < 0 && errno == ECHILD) _exit(125);
  }
}

}  // namespace

SandboxProcess start_sandbox(const SandboxSpec& spec, const SandboxLaunch& launch) {
  if (spec.seccomp == nullptr || spec.seccomp->empty()) {
    throw SandboxError("sandbox: no seccomp filter", false);
  }
  if (launch.argv.empty()) throw SandboxError("image has no entrypoint or command", true);
  // Built before the clone: the child only uses them.
  std::vector<char*> argv = c_strings(launch.argv);
  std::vector<char*> envp = c_strings(launch.env);

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw SandboxError(std::string("sandbox: pipe2: ") + std::strerror(errno), false);
  }
  UniqueFd err_read(pipe_fds[0]), err_write(pipe_fds[1]);

  int pidfd = -1;
  const pid_t pid = sandbox::clone_into_namespaces(!spec.share_host_network, &pidfd);
  if (pid < 0) throw SandboxError(std::string("sandbox: clone3: ") + std::strerror(errno), false);
  if (pid == 0) run_init(spec, launch, argv.data(), envp.data(), err_write.get());

  SandboxProcess proc{pid, UniqueFd(pidfd)};
  err_write.reset();
  // EOF without a message: the function exec'd (the pipe is close-on-exec).
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(err_read.get(), buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    msg.append(buf, static_cast<size_t>(n));
  }
  if (!msg.empty()) {
    kill(pid, SIGKILL);
    siginfo_t info{};
    waitid(P_PIDFD, static_cast<id_t>(proc.pidfd.get()), &info, WEXITED);
    const bool user = msg.rfind(kUserFaultPrefix, 0) == 0;
    throw SandboxError(user ? msg : "sandbox setup failed: " + msg, user);
  }
  return proc;
}

FunctionExit decode_init_exit(int code) {
  if (code > 128 && code < 128 + 65) return {true, code - 128};
  return {false, code};
}

}  // namespace fnr
