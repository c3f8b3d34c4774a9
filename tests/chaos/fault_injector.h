#pragma once
// Random faults against a running fn-runner, from its own thread: SIGKILL
// of a worker (a child of the supervisor: busy or idle with a container, or
// a spare), SIGKILL of a function (any descendant of a worker: the
// container's init or the function under it), and client cancels of calls
// in flight (registered by the call threads). Seeded, so a run can be
// replayed as far as thread timing allows; counts every fault that landed.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "client/lb_client.h"

namespace fnr::chaos {

// Calls in flight, so the injector can cancel one. A call thread adds its
// canceller before engage() and removes it after; cancel_random holds the
// lock while it cancels, so a canceller is never used after its call ended.
class InFlight {
 public:
  void add(client::CallCanceller* c);
  void remove(client::CallCanceller* c);
  // Cancels one call picked with `rng`; false if none is in flight.
  bool cancel_random(std::mt19937_64& rng);

 private:
  std::mutex mu_;
  std::vector<client::CallCanceller*> calls_;
};

struct FaultCounts {
  uint64_t worker_kills_busy = 0;   // a worker with a container (a call or idle)
  uint64_t worker_kills_spare = 0;  // a spare worker, before any call
  uint64_t function_kills = 0;      // a container init or function process
  uint64_t client_cancels = 0;      // TryCancel of a call in flight, at a random moment
  [[nodiscard]] uint64_t total() const {
    return worker_kills_busy + worker_kills_spare + function_kills + client_cancels;
  }
};

struct FaultMix {
  // Relative weights of the fault kinds.
  int worker_kill = 3;
  int function_kill = 3;
  int client_cancel = 2;
  // Pause between faults, uniform in [min, max].
  std::chrono::milliseconds min_gap{20};
  std::chrono::milliseconds max_gap{150};
};

class FaultInjector {
 public:
  FaultInjector(pid_t supervisor, uint64_t seed, FaultMix mix, InFlight& in_flight);
  ~FaultInjector();  // stops
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  void start();
  void stop();
  [[nodiscard]] FaultCounts counts() const;

 private:
  void run();
  void inject_one();

  const pid_t supervisor_;
  std::mt19937_64 rng_;
  const FaultMix mix_;
  InFlight& in_flight_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  FaultCounts counts_;
  std::thread thread_;
};

}  // namespace fnr::chaos
