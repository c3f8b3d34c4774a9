#include "tests/chaos/leak_check.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "tests/chaos/process_tree.h"
#include "tests/e2e/process_watch.h"

namespace fnr::chaos {
namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<pid_t>& pids) {
  std::string out;
  for (const pid_t p : pids) {
    if (!out.empty()) out += ' ';
    out += std::to_string(p) + "(" + comm(p) + ")";
  }
  return out;
}

// Mount points (field 5 of /proc/self/mountinfo) under any of `dirs`.
std::vector<std::string> mounts_under(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point;
    fields >> id >> parent >> dev >> root >> mount_point;
    for (const std::string& d : dirs) {
      if (!d.empty() && mount_point.rfind(d, 0) == 0) out.push_back(mount_point);
    }
  }
  return out;
}

std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> subdirs_of(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory(ec)) out.push_back(e.path().filename());
  }
  return out;
}

std::string listing(const std::vector<std::string>& names, size_t max = 8) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

void check_functions(ChaosRunner& runner, std::vector<std::string>& leaks) {
  const std::vector<pid_t> fns = e2e::processes_with_env(runner.marker_env());
  if (!fns.empty()) leaks.push_back("function processes left: " + join(fns));
}

void check_mounts(ChaosRunner& runner, std::vector<std::string>& leaks) {
  const std::vector<std::string> m =
      mounts_under({runner.runtime_root(), runner.harness().temp_dir()});
  if (!m.empty()) leaks.push_back("mounts left: " + listing(m));
}

void check_cgroups(ChaosRunner& runner, std::vector<std::string>& leaks) {
  for (const std::string& base : runner.cgroup_bases()) {
    const std::vector<std::string> left = subdirs_of(base);
    if (!left.empty()) leaks.push_back("container cgroups left in " + base + ": " + listing(left));
  }
}

void check_runtime_dir(ChaosRunner& runner, std::vector<std::string>& leaks) {
  const std::vector<std::string> left = entries_of(runner.instance_runtime_dir());
  if (!left.empty()) {
    leaks.push_back("scratch/socket dirs left in " + runner.instance_runtime_dir() + ": " +
                    listing(left));
  }
}

}  // namespace

FdBaseline fd_baseline(pid_t supervisor) {
  return FdBaseline{fd_count(supervisor), fd_targets(supervisor)};
}

std::vector<std::string> leaks_while_idle(ChaosRunner& runner, const FdBaseline* baseline) {
  std::vector<std::string> leaks;
  const LedgerSnapshot ledger = runner.harness().ledger();
  if (ledger.reserved_mib != 0 || !ledger.entries.empty()) {
    std::string what;
    for (const ReservationView& e : ledger.entries) {
      what += " [" + e.call_id + " " + std::to_string(e.mib) + " MiB " +
              std::string(reservation_state_name(e.state)) + " pid " + std::to_string(e.owner_pid) +
              "]";
    }
    leaks.push_back("ledger holds " + std::to_string(ledger.reserved_mib) + " MiB in " +
                    std::to_string(ledger.entries.size()) + " entries:" + what);
  }
  const pid_t sup = runner.pid();
  const ProcessTree tree = ProcessTree::scan();
  const std::vector<pid_t> workers = tree.children(sup);
  std::vector<pid_t> busy;
  for (const pid_t w : workers) {
    if (!tree.children(w).empty()) busy.push_back(w);
  }
  if (!busy.empty()) leaks.push_back("workers with a container left: " + join(busy));
  if (workers.size() > runner.spare_workers()) {
    leaks.push_back("more workers than spares (" + std::to_string(runner.spare_workers()) +
                    "): " + join(workers));
  }
  // A worker (or a container init, a clone of one) no longer under the
  // supervisor: it lost track of it.
  std::vector<pid_t> orphans;
  for (const pid_t w : e2e::processes_with_env(runner.worker_env())) {
    if (tree.parent(w) != sup && tree.parent(tree.parent(w)) != sup) orphans.push_back(w);
  }
  if (!orphans.empty()) leaks.push_back("workers outside the supervisor: " + join(orphans));
  check_functions(runner, leaks);
  check_cgroups(runner, leaks);
  check_mounts(runner, leaks);
  check_runtime_dir(runner, leaks);
  if (baseline == nullptr) return leaks;
  const FdBaseline now = fd_baseline(sup);
  if (now.count != baseline->count) {
    std::vector<std::string> extra, missing;
    std::set_difference(now.targets.begin(), now.targets.end(), baseline->targets.begin(),
                        baseline->targets.end(), std::back_inserter(extra));
    std::set_difference(baseline->targets.begin(), baseline->targets.end(), now.targets.begin(),
                        now.targets.end(), std::back_inserter(missing));
    leaks.push_back("supervisor fds " + std::to_string(now.count) + ", baseline " +
                    std::to_string(baseline->count) + "; new: " + listing(extra, 20) +
                    "; gone: " + listing(missing, 20));
  }
  return leaks;
}

std::vector<std::string> leaks_after_exit(ChaosRunner& runner) {
  std::vector<std::string> leaks;
  const std::vector<pid_t> workers = e2e::processes_with_env(runner.worker_env());
  if (!workers.empty()) leaks.push_back("worker processes still running: " + join(workers));
  check_functions(runner, leaks);
  check_cgroups(runner, leaks);
  check_mounts(runner, leaks);
  check_runtime_dir(runner, leaks);
  // A clean exit takes the instance's own cgroups and scratch dir with it;
  // left, they pile up on the host with every runner instance that ran.
  std::error_code ec;
  for (const std::string& base : runner.cgroup_bases()) {
    if (fs::exists(base, ec)) leaks.push_back("instance cgroup left: " + base);
  }
  if (fs::exists(runner.instance_runtime_dir(), ec)) {
    leaks.push_back("instance scratch dir left: " + runner.instance_runtime_dir());
  }
  if (fs::exists("/dev/shm/" + runner.harness().ledger_name(), ec)) {
    leaks.push_back("ledger segment /dev/shm/" + runner.harness().ledger_name() + " left");
  }
  return leaks;
}

}  // namespace fnr::chaos
