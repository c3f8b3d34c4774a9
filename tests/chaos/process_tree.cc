#include "tests/chaos/process_tree.h"

#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "shared/unique_fd.h"

namespace fnr::chaos {
namespace {

// Parent pid from /proc/<pid>/stat: the field after the parenthesised
// command name (which may itself hold spaces and parentheses).
pid_t read_ppid(const std::string& pid_dir) {
  std::ifstream in(pid_dir + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  char state = 0;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

std::string read_link(const std::string& path) {
  char buf[4096];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return {};
  return {buf, static_cast<size_t>(n)};
}

std::vector<pid_t> numeric_entries(const std::string& dir) {
  std::vector<pid_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v >= 0) out.push_back(static_cast<pid_t>(v));
  }
  ::closedir(d);
  return out;
}

// "socket:[123]" -> what /proc/net says of inode 123: "unix <path|anon>
// st<state>" or "tcp"; the bare target if unknown.
std::string describe_socket(const std::string& target) {
  static const std::string prefix = "socket:[";
  if (target.rfind(prefix, 0) != 0) return target;
  const std::string inode = target.substr(prefix.size(), target.size() - prefix.size() - 1);
  {
    std::ifstream in("/proc/net/unix");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // Num RefCount Protocol Flags Type St Inode [Path]
      std::istringstream f(line);
      std::string num, ref, proto, flags, type, st, ino, path;
      f >> num >> ref >> proto >> flags >> type >> st >> ino >> path;
      if (ino == inode) {
        std::string out = target;
        out.append(" unix ").append(path.empty() ? "anon" : path);
        return out.append(" type ").append(type).append(" st ").append(st);
      }
    }
  }
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      std::istringstream f(line);
      std::string sl, local, rem, st, q, tr, re, uid, timeout, ino;
      f >> sl >> local >> rem >> st >> q >> tr >> re >> uid >> timeout >> ino;
      if (ino == inode) {
        std::string out = target;
        return out.append(" tcp ").append(local).append("->").append(rem).append(" st ").append(st);
      }
    }
  }
  return target;
}

}  // namespace

ProcessTree ProcessTree::scan() {
  ProcessTree t;
  for (const pid_t pid : numeric_entries("/proc")) {
    if (pid <= 0) continue;
    const std::string dir = "/proc/" + std::to_string(pid);
    const pid_t ppid = read_ppid(dir);
    if (ppid == 0 && pid != 1) continue;  // gone, or a kernel thread's parent 0
    t.parent_[pid] = ppid;
    t.children_[ppid].push_back(pid);
  }
  return t;
}

std::vector<pid_t> ProcessTree::children(pid_t pid) const {
  const auto it = children_.find(pid);
  return it == children_.end() ? std::vector<pid_t>{} : it->second;
}

std::vector<pid_t> ProcessTree::descendants(pid_t pid) const {
  std::vector<pid_t> out;
  std::vector<pid_t> todo = children(pid);
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    out.push_back(p);
    for (const pid_t c : children(p)) todo.push_back(c);
  }
  return out;
}

pid_t ProcessTree::parent(pid_t pid) const {
  const auto it = parent_.find(pid);
  return it == parent_.end() ? 0 : it->second;
}

uint64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

int fd_count(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (::access(dir.c_str(), F_OK) != 0) return -1;
  return static_cast<int>(numeric_entries(dir).size());
}

FdKinds fd_kinds(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (::access(dir.c_str(), F_OK) != 0) return {};
  FdKinds k;
  k.total = 0;
  for (const pid_t fd : numeric_entries(dir)) {
    ++k.total;
    if (read_link(dir + "/" + std::to_string(fd)) == "anon_inode:[pidfd]") ++k.pidfds;
  }
  return k;
}

std::vector<std::string> fd_targets(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  std::vector<std::string> out;
  for (const pid_t fd : numeric_entries(dir)) {
    out.push_back(describe_socket(read_link(dir + "/" + std::to_string(fd))));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string comm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

bool signal_child_of(pid_t pid, pid_t parent, int sig) {
  const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U)));
  if (!pidfd) return false;
  // The pidfd pins this pid to this process; if it is still the child we
  // meant, the signal reaches it and nobody else.
  if (read_ppid("/proc/" + std::to_string(pid)) != parent) return false;
  return ::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0U) == 0;
}

}  // namespace fnr::chaos
