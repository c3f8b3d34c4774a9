#pragma once
// What every engagement shares: configuration, the ledger, the loop and
// the counters the Status RPC reports.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_set>

#include "shared/cgroup.h"
#include "shared/config.h"
#include "shared/ledger.h"
#include "supervisor/event_loop.h"
#include "supervisor/metrics.h"

namespace fnr {

class Engagement;
class WorkerPool;

struct RunnerCounters {
  std::atomic<int32_t> active{0};              // Engage streams open
  std::atomic<uint64_t> requests_received{0};  // Try messages seen
  std::atomic<uint64_t> requests_handled{0};   // Trys that were not NACKed
};

struct RunnerContext {
  Config config;
  std::string worker_path;
  Ledger* ledger = nullptr;
  EventLoop* loop = nullptr;
  RunnerCounters counters;
  Metrics metrics;          // any thread; scraped by the metrics server
  CgroupLayout cgroups;     // where containers' cgroups go (sandbox on)
  int seccomp_fd = -1;      // the compiled filter, inherited by workers
  std::string instance_id;  // makes sandbox ids unique across restarts
  std::string runtime_dir;  // <sandbox.runtime_dir>/<ledger name>: containers\' scratch
  std::atomic<uint64_t> next_sandbox{0};
  WorkerPool* pool = nullptr;  // loop thread only
  std::atomic<bool> draining{false};

  // Engagements running on a worker; loop thread only.
  std::unordered_set<Engagement*> with_worker;
  // Worker processes alive, which shutdown waits on.
  std::mutex workers_mu;
  std::condition_variable workers_cv;
  size_t live_workers = 0;  // guarded by workers_mu
};

}  // namespace fnr
