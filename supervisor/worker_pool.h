#pragma once
// Every worker the supervisor has, on the loop thread: spares started ahead
// of demand, busy ones, and idle hot containers by slot key. The pool owns
// the capacity a worker holds: it releases it, and removes the container's
// cgroup and scratch directory, once the worker is lost, however that
// happened. When a new container does not fit, idle containers are evicted,
// least recently used first, before anyone gets a NACK.
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "supervisor/runner_context.h"
#include "supervisor/spawner.h"
#include "supervisor/worker_handle.h"

namespace fnr {

class WorkerPool {
 public:
  explicit WorkerPool(RunnerContext& ctx);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Loop thread: starts the spares.
  void start();

  // An idle hot container for `key`, now busy; nullptr if none.
  WorkerHandle* take_idle(const std::string& key);
  // Capacity for a new container, evicting idle ones if that makes it fit.
  std::optional<ReservationId> reserve(const std::string& call_id, uint32_t mib);
  // A worker for a new container (a spare, or one spawned now), holding
  // `reservation`; nullptr with `error` set if none could be started (the
  // reservation is then released).
  WorkerHandle* take_fresh(ReservationId reservation, uint32_t mib, std::string* error);
  // After a call whose container stays: idle until the next call for its key
  // or its idle timeout.
  void park(WorkerHandle* w);

  // Ends every idle hot container and gives back its capacity (drain).
  void end_idle(const char* why);
  // Shutdown: ends every worker; `live()` then counts down to 0.
  void shut_down_all(std::chrono::milliseconds grace);
  // Kills and reaps every worker left, synchronously (last step of shutdown).
  void clear();

 private:
  WorkerHandle* adopt(SpawnedWorker w);
  void evict(WorkerHandle* w, const char* why);
  void forget_idle(WorkerHandle* w);
  void on_lost(WorkerHandle* w);
  void refill_spares();

  RunnerContext& ctx_;
  std::unordered_map<WorkerHandle*, std::unique_ptr<WorkerHandle>> all_;
  std::unordered_map<std::string, std::vector<WorkerHandle*>> idle_;  // most recent last
  std::vector<WorkerHandle*> spares_;
  unsigned spares_pending_ = 0;
  bool shutting_down_ = false;
  std::unique_ptr<Spawner> spawner_;
};

}  // namespace fnr
