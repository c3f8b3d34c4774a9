#include "supervisor/recovery.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "shared/ledger.h"

namespace fnr {
namespace fs = std::filesystem;

UniqueFd lock_instance(const std::string& runtime_root, const std::string& name,
                       std::string* error) {
  std::error_code ec;
  fs::create_directories(runtime_root, ec);
  const std::string path = runtime_root + "/" + name + ".lock";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return {};
  }
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    *error = "another fn-runner already runs as '" + name + "' (" + path + " is locked)";
    return {};
  }
  return fd;
}

namespace {

// Removes every container cgroup under the instance's bases (killing what
// is inside) and every scratch dir under its runtime dir; how many of each.
std::pair<size_t, size_t> remove_containers(const CgroupLayout& cgroups,
                                            const std::string& runtime_dir) {
  std::set<std::string> containers;
  std::error_code ec;
  for (const auto& base : cgroups.bases) {
    for (const auto& entry : fs::directory_iterator(base, ec)) {
      if (entry.is_directory(ec)) containers.insert(entry.path().filename().string());
    }
  }
  for (const auto& name : containers) Cgroup::remove_stale(cgroups, name);
  size_t dirs = 0;
  for (const auto& entry : fs::directory_iterator(runtime_dir, ec)) {
    fs::remove_all(entry.path(), ec);
    ++dirs;
  }
  return {containers.size(), dirs};
}

}  // namespace

void clean_previous_run(const std::string& ledger_name, const CgroupLayout& cgroups,
                        const std::string& runtime_dir) {
  std::string why;
  if (auto stale = Ledger::open(ledger_name, &why)) {
    const LedgerSnapshot snap = stale->snapshot();
    spdlog::warn(
        "recovery: stale ledger '{}' from a previous run ({} reservations, {} MiB): "
        "rebuilding it empty",
        ledger_name, snap.entries.size(), snap.reserved_mib);
  }
  const auto [containers, dirs] = remove_containers(cgroups, runtime_dir);
  if (containers != 0 || dirs != 0) {
    spdlog::warn(
        "recovery: removed {} container cgroups and {} scratch directories left by a "
        "previous run",
        containers, dirs);
  }
}

void remove_instance(const CgroupLayout& cgroups, const std::string& runtime_dir) {
  // Every worker is gone by now, and each took its container's cgroup and
  // scratch dir with it; anything still there is a bug to hear about.
  const auto [containers, dirs] = remove_containers(cgroups, runtime_dir);
  if (containers != 0 || dirs != 0) {
    spdlog::error("shutdown: {} container cgroups and {} scratch directories were left; removed",
                  containers, dirs);
  }
  for (const auto& base : cgroups.bases) {
    if (!cgroup_io::remove_dir(base)) {
      spdlog::warn("shutdown: cannot remove cgroup {}: {}", base, std::strerror(errno));
    }
  }
  std::error_code ec;
  fs::remove(runtime_dir, ec);
  if (ec) spdlog::warn("shutdown: cannot remove {}: {}", runtime_dir, ec.message());
}

}  // namespace fnr
