#pragma once
// A cgroup per container, on cgroup v1 (one directory per controller:
// memory, pids, cpu) or v2 (one directory, controllers enabled by the
// parent), detected at runtime. Containers nest under the runner's own
// cgroup: <own>/fn-runner/<sandbox id>.
//
// The supervisor detects and prepares the layout once (on v2 it moves
// itself into a leaf, since a cgroup with processes may not delegate
// controllers); workers create one Cgroup per container from that layout;
// the supervisor removes what a dead worker left behind.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shared/unique_fd.h"

namespace fnr {

struct CgroupLimits {
  uint64_t memory_bytes = 0;  // 0 = none; swap is never allowed beyond it
  uint32_t pids_max = 0;      // 0 = none
  uint32_t cpus_milli = 0;    // 0 = no quota
};

struct CgroupLayout {
  int version = 0;                 // 1 or 2; 0 = no usable cgroups
  std::vector<std::string> bases;  // v1: memory, pids, cpu bases; v2: one

  // Finds the runner's own cgroup(s) and creates <own>/fn-runner/<instance>
  // under it: one subtree per runner instance (its ledger name), so that a
  // restarted runner can clean up exactly what its predecessor left. Throws
  // std::runtime_error with the path that failed.
  static CgroupLayout prepare(const std::string& instance);
};

class Cgroup {
 public:
  // Creates <base>/<name> for every base and applies `limits`.
  static std::unique_ptr<Cgroup> create(const CgroupLayout& layout, const std::string& name,
                                        const CgroupLimits& limits);
  // Kills what is left inside and removes the directories.
  ~Cgroup();
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  // cgroup.procs of every directory, opened for writing: a child writes
  // "0" to each to enter the cgroup before it runs anything else.
  [[nodiscard]] std::vector<UniqueFd> open_procs() const;
  // True once the kernel's OOM killer killed something in it.
  [[nodiscard]] bool oom_killed() const;
  // The memory limit as the container sees it, for tests and status.
  [[nodiscard]] uint64_t memory_limit() const;
  void kill_all() const;

  // Removes <base>/<name> of a container whose worker died; no-op if gone.
  static void remove_stale(const CgroupLayout& layout, const std::string& name);

 private:
  Cgroup(int version, std::vector<std::string> dirs) : version_(version), dirs_(std::move(dirs)) {}
  int version_;
  std::vector<std::string> dirs_;
};

// Small file helpers shared by the v1 and v2 code.
namespace cgroup_io {
bool write_file(const std::string& path, const std::string& value, std::string* error);
std::string read_file(const std::string& path);
// Value of `key` in a flat-keyed file like memory.events ("oom_kill 1").
uint64_t read_key(const std::string& path, const std::string& key);
void kill_procs(const std::string& dir);
bool remove_dir(const std::string& dir);
}  // namespace cgroup_io

}  // namespace fnr
