#include "tests/e2e/process_watch.h"

#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <thread>

namespace fnr::e2e {

PidWatch::PidWatch(pid_t pid) : pid_(pid) {
  // glibc 2.36's <sys/pidfd.h> cannot be linked from C++: call it directly.
  fd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U)));
}

bool PidWatch::wait_exit(std::chrono::milliseconds timeout) const {
  if (!fd_.valid()) return true;  // gone before we looked
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::vector<pid_t> threads_of(pid_t pid) {
  std::vector<pid_t> out;
  DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
  if (dir == nullptr) return out;
  while (const dirent* d = readdir(dir)) {
    if (d->d_name[0] != '.') out.push_back(static_cast<pid_t>(std::strtol(d->d_name, nullptr, 10)));
  }
  closedir(dir);
  return out;
}

std::vector<pid_t> children_of(pid_t pid) {
  // Each thread has its own list: the supervisor's spawner and loop threads
  // start workers too.
  std::vector<pid_t> out;
  for (const pid_t tid : threads_of(pid)) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/children");
    pid_t child = 0;
    while (in >> child) out.push_back(child);
  }
  return out;
}

std::vector<pid_t> processes_with_env(const std::string& entry) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* d = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(d->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::ifstream in(std::string("/proc/") + d->d_name + "/environ", std::ios::binary);
    if (!in) continue;
    const std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t start = 0;
    while (start < env.size()) {
      size_t stop = env.find('\0', start);
      if (stop == std::string::npos) stop = env.size();
      if (std::string_view(env).substr(start, stop - start) == entry) {
        out.push_back(static_cast<pid_t>(pid));
        break;
      }
      start = stop + 1;
    }
  }
  closedir(proc);
  return out;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<std::string> container_cgroup_dirs(pid_t pid) {
  std::vector<std::string> dirs;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("fn-runner/") == std::string::npos) continue;
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    const std::string ctrl = line.substr(a + 1, b - a - 1);
    dirs.push_back((ctrl.empty() ? "/sys/fs/cgroup" : "/sys/fs/cgroup/" + ctrl) +
                   line.substr(b + 1));
  }
  return dirs;
}

}  // namespace fnr::e2e
