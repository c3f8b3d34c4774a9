#pragma once
// The supervisor's Prometheus metrics: lock-free counters, gauges and
// fixed-bucket histograms that the gRPC and loop threads bump with one
// relaxed atomic operation per event, and render() for the scrape thread
// (supervisor/metrics_server.cc), which never touches loop-only state.
// Nothing here allocates or formats per call; only render() does.
#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace fnr {

// Why a Try was NACKed (fn_runner_nacks_total{reason}): a small fixed set,
// so that a hostile LB cannot grow the label space.
enum class NackReason : uint8_t {
  kShuttingDown,  // draining after SIGTERM
  kInvalidCall,   // the call JSON or its limits
  kCapacity,      // not enough memory, even after evicting idle containers
  kRunnerFault,   // no worker could be started
  kProtocol,      // the stream did not start with a try
  kCount_,
};

enum class EvictionReason : uint8_t {
  kCapacity,     // an idle container made room for a new one
  kIdleTimeout,  // an idle container outlived its idle_timeout
  kCount_,
};

enum class ContainerState : uint8_t {
  kStarting,  // placed on a fresh worker, container not ready yet
  kBusy,      // running a call
  kIdle,      // a hot container waiting for its next call
  kCount_,
};

// Buckets suited to 100 µs .. 1 minute, the span of queueing, cold start
// and execution times; the same for every latency histogram.
class LatencyHistogram {
 public:
  static constexpr std::array<int64_t, 18> kBoundsNs = {
      100'000,       250'000,       500'000,       1'000'000,      2'500'000,      5'000'000,
      10'000'000,    25'000'000,    50'000'000,    100'000'000,    250'000'000,    500'000'000,
      1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000, 30'000'000'000, 60'000'000'000};

  void observe_ns(int64_t ns);

  struct Snapshot {
    std::array<uint64_t, kBoundsNs.size() + 1> buckets{};  // not cumulative; last is +Inf
    uint64_t sum_ns = 0;
    [[nodiscard]] uint64_t count() const;
  };
  [[nodiscard]] Snapshot snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsNs.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// Capacity comes from the ledger (shared memory with its own mutex), read
// by whoever renders.
struct CapacitySample {
  uint64_t total_bytes = 0;
  uint64_t reserved_bytes = 0;
};

class Metrics {
 public:
  // The code the LB saw in finished (200 on success; 499 when it went away).
  void call_ended(int code) { counter_add(calls_by_code_[code_index(code)]); }
  void nack(NackReason r) { counter_add(nacks_[static_cast<size_t>(r)]); }
  void eviction(EvictionReason r) { counter_add(evictions_[static_cast<size_t>(r)]); }
  void worker_crash() { counter_add(worker_crashes_); }
  void oom_kill() { counter_add(oom_kills_); }
  // A container entered / left `s`.
  void container_enter(ContainerState s) { gauge_add(s, 1); }
  void container_leave(ContainerState s) { gauge_add(s, -1); }

  LatencyHistogram queue;       // Try received -> placed on a worker
  LatencyHistogram cold_start;  // container start -> ready (calls that started one)
  LatencyHistogram execution;   // the function's run, as its worker timed it

  // Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string render(const CapacitySample& capacity) const;

 private:
  // Index 0 collects codes outside 100..599 (rendered as code="other").
  static constexpr int kMinCode = 100;
  static constexpr int kMaxCode = 599;
  static size_t code_index(int code) {
    return code < kMinCode || code > kMaxCode ? 0 : static_cast<size_t>(code - kMinCode + 1);
  }
  static void counter_add(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
  void gauge_add(ContainerState s, int64_t d) {
    containers_[static_cast<size_t>(s)].fetch_add(d, std::memory_order_relaxed);
  }

  std::array<std::atomic<uint64_t>, kMaxCode - kMinCode + 2> calls_by_code_{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(NackReason::kCount_)> nacks_{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(EvictionReason::kCount_)> evictions_{};
  std::array<std::atomic<int64_t>, static_cast<size_t>(ContainerState::kCount_)> containers_{};
  std::atomic<uint64_t> worker_crashes_{0};
  std::atomic<uint64_t> oom_kills_{0};
};

}  // namespace fnr
