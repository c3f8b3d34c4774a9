#pragma once
// Runs the same operation on --c threads, --warmup unmeasured then --n
// measured in all (or until --duration), and reduces the latencies.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/options.h"

namespace fnr::bench {

struct OpResult {
  enum class Kind { kOk, kNack, kError };
  Kind kind = Kind::kOk;
  std::chrono::nanoseconds latency{0};
  std::string error;  // for kNack / kError
};

// One thread's operation: owns what must live across calls (a stream, a
// client); created and destroyed on its own thread.
class Worker {
 public:
  virtual ~Worker() = default;
  virtual OpResult call() = 0;
};

// nullptr with `error` set when a worker cannot start (e.g. cannot connect).
using WorkerFactory = std::function<std::unique_ptr<Worker>(uint32_t index, std::string* error)>;

struct RunResult {
  uint32_t concurrency = 0;
  uint64_t ok = 0;
  uint64_t nacks = 0;
  uint64_t errors = 0;
  double seconds = 0;
  std::vector<int64_t> latencies_ns;  // successful calls only, sorted
  std::string first_error;

  [[nodiscard]] double calls_per_s() const {
    return seconds > 0 ? static_cast<double>(ok) / seconds : 0;
  }
  // Nearest-rank percentile in µs; 0 with no samples.
  [[nodiscard]] double percentile_us(double p) const;
};

RunResult run_workers(const Options& options, const WorkerFactory& make);

// "<prefix>_key: value" lines on stdout.
void print_result(std::string_view prefix, const RunResult& r);

}  // namespace fnr::bench
