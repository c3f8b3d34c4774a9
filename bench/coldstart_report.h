#pragma once
// What the cold-start bench measured, one series per contender, and its
// "key: value" lines.
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/driver.h"

namespace fnr::bench {

struct Series {
  explicit Series(std::string n) : name(std::move(n)) {}

  std::string name;         // key part: coldstart_<name>_p50_us
  RunResult result;         // latencies_ns of the successful runs, errors
  std::string unavailable;  // not measured at all, and why

  [[nodiscard]] bool measured() const { return unavailable.empty() && result.ok > 0; }
  void add(bool ok, int64_t ns, const std::string& error);
  // Sorts the samples; call once, before printing.
  void finish();
};

// coldstart_<name>_calls, _p50_us, _p90_us, _p99_us, _max_us, _errors
// (_first_error), or coldstart_<name>: unavailable: <why>.
void print_series(const Series& s);

// coldstart_ratio_<label>_p50 and _p99: a / b, when both were measured.
void print_ratios(std::string_view label, const Series& a, const Series& b);

}  // namespace fnr::bench
