#include "supervisor/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <numeric>

namespace fnr {
namespace {

constexpr std::array<const char*, static_cast<size_t>(NackReason::kCount_)> kNackReasonNames = {
    "shutting_down", "invalid_call", "capacity", "runner_fault", "protocol_error"};
constexpr std::array<const char*, static_cast<size_t>(EvictionReason::kCount_)>
    kEvictionReasonNames = {"capacity", "idle_timeout"};
constexpr std::array<const char*, static_cast<size_t>(ContainerState::kCount_)>
    kContainerStateNames = {"starting", "busy", "idle"};

using Out = std::back_insert_iterator<std::string>;

void header(Out out, const char* name, const char* type, const char* help) {
  fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

double seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

void histogram(Out out, const char* name, const char* help, const LatencyHistogram& h) {
  header(out, name, "histogram", help);
  const LatencyHistogram::Snapshot s = h.snapshot();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBoundsNs.size(); ++i) {
    cumulative += s.buckets[i];
    fmt::format_to(out, "{}_bucket{{le=\"{}\"}} {}\n", name,
                   seconds(static_cast<uint64_t>(LatencyHistogram::kBoundsNs[i])), cumulative);
  }
  cumulative += s.buckets.back();
  fmt::format_to(out, "{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  fmt::format_to(out, "{}_sum {}\n", name, seconds(s.sum_ns));
  fmt::format_to(out, "{}_count {}\n", name, cumulative);
}

uint64_t load(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

}  // namespace

void LatencyHistogram::observe_ns(int64_t ns) {
  ns = std::max<int64_t>(ns, 0);
  // Prometheus buckets are upper-inclusive (le).
  const auto* it = std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), ns);
  buckets_[static_cast<size_t>(it - kBoundsNs.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot s;
  for (size_t i = 0; i < buckets_.size(); ++i) s.buckets[i] = load(buckets_[i]);
  s.sum_ns = load(sum_ns_);
  return s;
}

uint64_t LatencyHistogram::Snapshot::count() const {
  return std::accumulate(buckets.begin(), buckets.end(), uint64_t{0});
}

std::string Metrics::render(const CapacitySample& capacity) const {
  std::string text;
  text.reserve(8192);
  Out out(text);

  header(out, "fn_runner_calls_total", "counter",
         "Calls that ended, by the result code the LB saw in finished (499: the LB went away). "
         "NACKed calls are in fn_runner_nacks_total.");
  for (size_t i = 1; i < calls_by_code_.size(); ++i) {
    if (const uint64_t n = load(calls_by_code_[i])) {
      fmt::format_to(out, "fn_runner_calls_total{{code=\"{}\"}} {}\n",
                     static_cast<int>(i) - 1 + kMinCode, n);
    }
  }
  if (const uint64_t n = load(calls_by_code_[0])) {
    fmt::format_to(out, "fn_runner_calls_total{{code=\"other\"}} {}\n", n);
  }

  header(out, "fn_runner_nacks_total", "counter", "Trys refused (NACKed), by reason.");
  for (size_t i = 0; i < nacks_.size(); ++i) {
    fmt::format_to(out, "fn_runner_nacks_total{{reason=\"{}\"}} {}\n", kNackReasonNames[i],
                   load(nacks_[i]));
  }

  histogram(out, "fn_runner_call_queue_seconds",
            "Time from the Try received to the call placed on a worker.", queue);
  histogram(out, "fn_runner_cold_start_seconds",
            "Time to start a container until it is ready, for calls that started one.", cold_start);
  histogram(out, "fn_runner_execution_seconds",
            "Time the function ran for a call, as its worker measured it.", execution);

  header(out, "fn_runner_capacity_total_bytes", "gauge", "Memory the runner hands out to calls.");
  fmt::format_to(out, "fn_runner_capacity_total_bytes {}\n", capacity.total_bytes);
  header(out, "fn_runner_capacity_reserved_bytes", "gauge",
         "Memory reserved by running calls and idle hot containers.");
  fmt::format_to(out, "fn_runner_capacity_reserved_bytes {}\n", capacity.reserved_bytes);

  header(out, "fn_runner_containers", "gauge", "Function containers, by state.");
  for (size_t i = 0; i < containers_.size(); ++i) {
    fmt::format_to(out, "fn_runner_containers{{state=\"{}\"}} {}\n", kContainerStateNames[i],
                   containers_[i].load(std::memory_order_relaxed));
  }

  header(out, "fn_runner_evictions_total", "counter",
         "Idle hot containers ended by the runner, by reason.");
  for (size_t i = 0; i < evictions_.size(); ++i) {
    fmt::format_to(out, "fn_runner_evictions_total{{reason=\"{}\"}} {}\n", kEvictionReasonNames[i],
                   load(evictions_[i]));
  }

  header(out, "fn_runner_worker_crashes_total", "counter",
         "Worker processes lost without the supervisor asking them to end.");
  fmt::format_to(out, "fn_runner_worker_crashes_total {}\n", load(worker_crashes_));
  header(out, "fn_runner_oom_kills_total", "counter",
         "Calls whose function the memory cgroup's OOM killer ended.");
  fmt::format_to(out, "fn_runner_oom_kills_total {}\n", load(oom_kills_));
  return text;
}

}  // namespace fnr
