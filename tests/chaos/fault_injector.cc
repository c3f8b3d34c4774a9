#include "tests/chaos/fault_injector.h"

#include <signal.h>

#include <algorithm>

#include "tests/chaos/process_tree.h"

namespace fnr::chaos {

void InFlight::add(client::CallCanceller* c) {
  const std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(c);
}

void InFlight::remove(client::CallCanceller* c) {
  const std::lock_guard<std::mutex> lock(mu_);
  calls_.erase(std::remove(calls_.begin(), calls_.end(), c), calls_.end());
}

bool InFlight::cancel_random(std::mt19937_64& rng) {
  const std::lock_guard<std::mutex> lock(mu_);
  if (calls_.empty()) return false;
  client::CallCanceller* c = calls_[rng() % calls_.size()];
  if (c->cancelled()) return false;
  c->cancel();
  return true;
}

FaultInjector::FaultInjector(pid_t supervisor, uint64_t seed, FaultMix mix, InFlight& in_flight)
    : supervisor_(supervisor), rng_(seed), mix_(mix), in_flight_(in_flight) {}

FaultInjector::~FaultInjector() { stop(); }

void FaultInjector::start() {
  thread_ = std::thread([this] { run(); });
}

void FaultInjector::stop() {
  {
    const std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

FaultCounts FaultInjector::counts() const {
  const std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void FaultInjector::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const auto span = mix_.max_gap - mix_.min_gap;
    const auto gap = mix_.min_gap +
                     std::chrono::milliseconds(span.count() > 0 ? rng_() % (span.count() + 1) : 0);
    // The pause paces the faults; stop() cuts it short.
    if (wake_.wait_for(lock, gap, [this] { return stopping_; })) break;
    lock.unlock();
    inject_one();
    lock.lock();
  }
}

void FaultInjector::inject_one() {
  const int total = mix_.worker_kill + mix_.function_kill + mix_.client_cancel;
  if (total <= 0) return;
  const int pick = static_cast<int>(rng_() % static_cast<uint64_t>(total));
  FaultCounts landed;
  if (pick < mix_.client_cancel) {
    if (in_flight_.cancel_random(rng_)) landed.client_cancels = 1;
  } else {
    const ProcessTree tree = ProcessTree::scan();
    const std::vector<pid_t> workers = tree.children(supervisor_);
    if (pick < mix_.client_cancel + mix_.worker_kill) {
      if (!workers.empty()) {
        const pid_t w = workers[rng_() % workers.size()];
        const bool spare = tree.children(w).empty();
        if (signal_child_of(w, supervisor_, SIGKILL)) {
          (spare ? landed.worker_kills_spare : landed.worker_kills_busy) = 1;
        }
      }
    } else {
      std::vector<pid_t> functions;
      for (const pid_t w : workers) {
        for (const pid_t d : tree.descendants(w)) functions.push_back(d);
      }
      if (!functions.empty()) {
        const pid_t f = functions[rng_() % functions.size()];
        if (signal_child_of(f, tree.parent(f), SIGKILL)) landed.function_kills = 1;
      }
    }
  }
  const std::lock_guard<std::mutex> lock(mu_);
  counts_.worker_kills_busy += landed.worker_kills_busy;
  counts_.worker_kills_spare += landed.worker_kills_spare;
  counts_.function_kills += landed.function_kills;
  counts_.client_cancels += landed.client_cancels;
}

}  // namespace fnr::chaos
