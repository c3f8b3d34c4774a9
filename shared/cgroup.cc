#include "shared/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fnr {

namespace cgroup_io {

bool write_file(const std::string& path, const std::string& value, std::string* error) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    if (error != nullptr) *error = "write '" + value + "' to " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t read_key(const std::string& path, const std::string& key) {
  std::istringstream in(read_file(path));
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

void kill_procs(const std::string& dir) {
  std::istringstream in(read_file(dir + "/cgroup.procs"));
  pid_t pid = 0;
  while (in >> pid) kill(pid, SIGKILL);
}

bool remove_dir(const std::string& dir) {
  // Killed tasks leave the cgroup asynchronously; rmdir says EBUSY until
  // they have. Bounded: after ~1 s we give up and report it.
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    kill_procs(dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace cgroup_io

namespace {

constexpr const char* kBaseName = "fn-runner";

// "4:memory:/a/b" lines of /proc/self/cgroup, by controller ("" for v2).
std::string own_cgroup_path(const std::string& controller) {
  std::istringstream in(cgroup_io::read_file("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::istringstream cs(ctrls);
    std::string c;
    if (controller.empty() && ctrls.empty()) return line.substr(b + 1);
    while (std::getline(cs, c, ',')) {
      if (!controller.empty() && c == controller) return line.substr(b + 1);
    }
  }
  return "";
}

// Mount point of the v1 hierarchy that holds `controller`, and the cgroup
// path at its root (non-"/" inside a container that mounts a subtree).
bool v1_mount(const std::string& controller, std::string* mount, std::string* root) {
  std::istringstream in(cgroup_io::read_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, opts;
    tail >> fstype >> source >> opts;
    if (fstype != "cgroup") continue;
    std::istringstream os(opts);
    std::string o;
    bool has = false;
    while (std::getline(os, o, ',')) has = has || o == controller;
    if (!has) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, r, mnt;
    head >> id >> parent >> devno >> r >> mnt;
    *mount = mnt;
    *root = r;
    return true;
  }
  return false;
}

void make_dir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    throw std::runtime_error("cgroup: mkdir " + path + ": " + std::strerror(errno));
  }
}

std::string join(const std::string& mount, const std::string& root, const std::string& path) {
  std::string rel = path;
  if (root != "/" && rel.rfind(root, 0) == 0) rel = rel.substr(root.size());
  if (rel == "/") rel.clear();
  return mount + rel;
}

CgroupLayout prepare_v1(const std::string& instance) {
  CgroupLayout layout;
  layout.version = 1;
  for (const char* ctrl : {"memory", "pids", "cpu"}) {
    std::string mount, root;
    if (!v1_mount(ctrl, &mount, &root)) {
      throw std::runtime_error(std::string("cgroup v1: no hierarchy with the ") + ctrl +
                               " controller is mounted");
    }
    std::string dir = join(mount, root, own_cgroup_path(ctrl));
    dir.append("/").append(kBaseName);
    make_dir(dir);
    dir.append("/").append(instance);
    make_dir(dir);
    layout.bases.push_back(std::move(dir));
  }
  return layout;
}

CgroupLayout prepare_v2(const std::string& instance) {
  CgroupLayout layout;
  layout.version = 2;
  const std::string own = "/sys/fs/cgroup" + own_cgroup_path("");
  std::string err;
  const std::string ctrls = "+memory +pids +cpu";
  // The no-internal-process rule: a cgroup that delegates controllers may
  // not hold processes itself (the root is exempt), so we move into a leaf.
  if (own != "/sys/fs/cgroup/" && own != "/sys/fs/cgroup") {
    make_dir(own + "/supervisor");
    if (!cgroup_io::write_file(own + "/supervisor/cgroup.procs", "0", &err)) {
      throw std::runtime_error("cgroup v2: " + err);
    }
  }
  if (!cgroup_io::write_file(own + "/cgroup.subtree_control", ctrls, &err)) {
    throw std::runtime_error(
        "cgroup v2: " + err +
        " (other processes in our cgroup? run under systemd with Delegate=yes)");
  }
  const std::string parent = own + "/" + kBaseName;
  const std::string base = parent + "/" + instance;
  for (const std::string& dir : {parent, base}) {
    make_dir(dir);
    if (!cgroup_io::write_file(dir + "/cgroup.subtree_control", ctrls, &err)) {
      throw std::runtime_error("cgroup v2: " + err);
    }
  }
  layout.bases.push_back(base);
  return layout;
}

bool is_cgroup2_root() {
  struct statfs fs {};
  return statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == 0x63677270;  // CGROUP2_SUPER_MAGIC
}

}  // namespace

CgroupLayout CgroupLayout::prepare(const std::string& instance) {
  return is_cgroup2_root() ? prepare_v2(instance) : prepare_v1(instance);
}

std::unique_ptr<Cgroup> Cgroup::create(const CgroupLayout& layout, const std::string& name,
                                       const CgroupLimits& limits) {
  std::vector<std::string> dirs;
  for (const auto& base : layout.bases) dirs.push_back(std::string(base).append("/").append(name));
  std::unique_ptr<Cgroup> cg(new Cgroup(layout.version, {}));
  for (const auto& d : dirs) {
    make_dir(d);
    cg->dirs_.push_back(d);  // from here on the destructor removes it
  }
  std::string err;
  bool ok = true;
  if (layout.version == 2) {
    const std::string& d = dirs[0];
    if (limits.memory_bytes != 0) {
      ok =
          ok && cgroup_io::write_file(d + "/memory.max", std::to_string(limits.memory_bytes), &err);
      // Absent when the kernel has no swap accounting: nothing to limit then.
      cgroup_io::write_file(d + "/memory.swap.max", "0", nullptr);
    }
    if (ok && limits.pids_max != 0) {
      ok = cgroup_io::write_file(d + "/pids.max", std::to_string(limits.pids_max), &err);
    }
    if (ok && limits.cpus_milli != 0) {
      ok = cgroup_io::write_file(d + "/cpu.max",
                                 std::to_string(limits.cpus_milli * 100) + " 100000", &err);
    }
  } else {
    if (limits.memory_bytes != 0) {
      ok = cgroup_io::write_file(dirs[0] + "/memory.limit_in_bytes",
                                 std::to_string(limits.memory_bytes), &err);
      cgroup_io::write_file(dirs[0] + "/memory.memsw.limit_in_bytes",
                            std::to_string(limits.memory_bytes), nullptr);
      cgroup_io::write_file(dirs[0] + "/memory.swappiness", "0", nullptr);
    }
    if (ok && limits.pids_max != 0) {
      ok = cgroup_io::write_file(dirs[1] + "/pids.max", std::to_string(limits.pids_max), &err);
    }
    if (ok && limits.cpus_milli != 0) {
      ok = cgroup_io::write_file(dirs[2] + "/cpu.cfs_period_us", "100000", &err) &&
           cgroup_io::write_file(dirs[2] + "/cpu.cfs_quota_us",
                                 std::to_string(limits.cpus_milli * 100), &err);
    }
  }
  if (!ok) throw std::runtime_error("cgroup: " + err);
  return cg;
}

Cgroup::~Cgroup() {
  kill_all();
  for (const auto& d : dirs_) cgroup_io::remove_dir(d);
}

std::vector<UniqueFd> Cgroup::open_procs() const {
  std::vector<UniqueFd> fds;
  for (const auto& d : dirs_) {
    const std::string path = d + "/cgroup.procs";
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw std::runtime_error("cgroup: open " + path + ": " + std::strerror(errno));
    fds.push_back(std::move(fd));
  }
  return fds;
}

bool Cgroup::oom_killed() const {
  if (dirs_.empty()) return false;
  const std::string file = version_ == 2 ? "/memory.events" : "/memory.oom_control";
  return cgroup_io::read_key(dirs_[0] + file, "oom_kill") > 0;
}

uint64_t Cgroup::memory_limit() const {
  if (dirs_.empty()) return 0;
  const std::string file = version_ == 2 ? "/memory.max" : "/memory.limit_in_bytes";
  return std::strtoull(cgroup_io::read_file(dirs_[0] + file).c_str(), nullptr, 10);
}

void Cgroup::kill_all() const {
  if (version_ == 2 && !dirs_.empty()) {
    if (cgroup_io::write_file(dirs_[0] + "/cgroup.kill", "1", nullptr)) return;
  }
  for (const auto& d : dirs_) cgroup_io::kill_procs(d);
}

void Cgroup::remove_stale(const CgroupLayout& layout, const std::string& name) {
  for (const auto& base : layout.bases) {
    const std::string d = std::string(base).append("/").append(name);
    if (access(d.c_str(), F_OK) != 0) continue;
    if (layout.version == 2) cgroup_io::write_file(d + "/cgroup.kill", "1", nullptr);
    cgroup_io::kill_procs(d);
    cgroup_io::remove_dir(d);
  }
}

}  // namespace fnr
