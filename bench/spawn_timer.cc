#include "bench/spawn_timer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "shared/pidfd.h"
#include "shared/unique_fd.h"

extern char** environ;

namespace fnr::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string describe(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return "exit " + std::to_string(info.si_status);
  return "signal " + std::to_string(info.si_status);
}

}  // namespace

SpawnSetup::SpawnSetup() {
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
}

SpawnSetup::~SpawnSetup() {
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
}

SpawnRun time_spawn(const std::vector<std::string>& argv, int out_fd,
                    std::chrono::milliseconds timeout) {
  SpawnRun run;
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  SpawnSetup s;
  posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0) {
    posix_spawn_file_actions_adddup2(&s.actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&s.actions, out_fd, 2);
  }

  const Clock::time_point start = Clock::now();
  pid_t pid = -1;
  if (const int rc = posix_spawn(&pid, args[0], &s.actions, &s.attr, args.data(), environ);
      rc != 0) {
    run.error = "posix_spawn " + argv[0] + ": " + std::strerror(rc);
    return run;
  }
  const UniqueFd pidfd(pidfd_open(pid));
  if (pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    int ready = 0;
    do {
      ready = poll(&p, 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      kill(pid, SIGKILL);
      run.error = "timed out after " + std::to_string(timeout.count()) + " ms";
    }
  }
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) != 0 && errno == EINTR) {
  }
  run.ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
  if (run.error.empty()) {
    run.ok = info.si_code == CLD_EXITED && info.si_status == 0;
    if (!run.ok) run.error = describe(info);
  }
  return run;
}

std::optional<std::string> find_program(const std::string& name) {
  const char* env = std::getenv("PATH");
  std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  path += ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find(':', start), path.size());
    const std::string dir = path.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir;
      candidate.append("/").append(name);
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace fnr::bench
