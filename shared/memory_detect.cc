// How much memory the runner may promise when the config does not say: a
// container or systemd unit usually caps us well below the host's RAM, and
// promising the host's figure would get functions OOM-killed instead of
// NACKed.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "shared/ledger.h"

namespace fnr {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string_view trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\n");
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(" \t\n");
  return s.substr(begin, end - begin + 1);
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  s = trim(s);
  uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<uint64_t> mem_total_bytes(const std::string& root) {
  const auto text = read_file(root + "/proc/meminfo");
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (lines >> key >> kib) {
    std::getline(lines, unit);
    if (key == "MemTotal:") return kib * 1024;
  }
  return std::nullopt;
}

// The cgroup paths of the calling process, from /proc/self/cgroup lines
// "ID:controllers:path".
struct CgroupPaths {
  std::optional<std::string> v1_memory;  // the hierarchy with the memory controller
  std::optional<std::string> v2;         // the "0::" unified hierarchy
};

bool lists_memory(std::string_view controllers) {
  while (!controllers.empty()) {
    const size_t comma = std::min(controllers.find(','), controllers.size());
    if (controllers.substr(0, comma) == "memory") return true;
    controllers.remove_prefix(std::min(comma + 1, controllers.size()));
  }
  return false;
}

CgroupPaths parse_proc_self_cgroup(const std::string& text) {
  CgroupPaths paths;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t first = line.find(':');
    const size_t second = line.find(':', first == std::string::npos ? first : first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string_view id = std::string_view(line).substr(0, first);
    const std::string_view controllers =
        std::string_view(line).substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (id == "0" && controllers.empty()) {
      paths.v2 = std::move(path);
    } else if (lists_memory(controllers)) {
      paths.v1_memory = std::move(path);
    }
  }
  return paths;
}

// A limit applies to a cgroup's whole subtree, so the effective one is the
// tightest along the path to the root. Walking up also copes with a
// container whose /proc/self/cgroup names a host path that is not visible
// under its own cgroup mount.
std::optional<uint64_t> tightest_limit(const std::string& mount, std::string cgroup_path,
                                       const std::string& file) {
  std::optional<uint64_t> tightest;
  while (true) {
    if (const auto text = read_file(mount + cgroup_path + "/" + file)) {
      // cgroup v2 writes "max" for no limit; parse_u64 refuses it.
      if (const auto limit = parse_u64(*text))
        tightest = std::min(tightest.value_or(*limit), *limit);
    }
    if (cgroup_path.empty() || cgroup_path == "/") break;
    const size_t slash = cgroup_path.find_last_of('/');
    cgroup_path.resize(slash == std::string::npos ? 0 : slash);
  }
  return tightest;
}

std::optional<uint64_t> cgroup_limit_bytes(const std::string& root) {
  const auto text = read_file(root + "/proc/self/cgroup");
  if (!text) return std::nullopt;
  const CgroupPaths paths = parse_proc_self_cgroup(*text);
  std::vector<uint64_t> limits;
  if (paths.v1_memory) {
    if (auto l = tightest_limit(root + "/sys/fs/cgroup/memory", *paths.v1_memory,
                                "memory.limit_in_bytes")) {
      limits.push_back(*l);
    }
  }
  if (paths.v2) {
    // Pure v2 mounts the unified tree at /sys/fs/cgroup; hybrid hosts at
    // /sys/fs/cgroup/unified (without the memory controller, so no limit).
    for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      if (auto l = tightest_limit(root + mount, *paths.v2, "memory.max")) limits.push_back(*l);
    }
  }
  if (limits.empty()) return std::nullopt;
  return *std::min_element(limits.begin(), limits.end());
}

}  // namespace

uint64_t detect_total_memory_bytes(const std::string& root) {
  const auto limit = cgroup_limit_bytes(root);
  const auto host = mem_total_bytes(root);
  if (!host) {
    if (limit) return *limit;
    throw std::runtime_error("cannot detect total memory: no cgroup limit and no MemTotal in " +
                             root + "/proc/meminfo");
  }
  // cgroup v1 says "unlimited" with a huge number (9223372036854771712);
  // anything at or above the host's memory is no limit at all.
  return limit ? std::min(*limit, *host) : *host;
}

uint64_t detect_total_memory_bytes() { return detect_total_memory_bytes(""); }

}  // namespace fnr
