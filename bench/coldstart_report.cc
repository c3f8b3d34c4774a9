#include "bench/coldstart_report.h"

#include <algorithm>
#include <cstdio>

namespace fnr::bench {

void Series::add(bool ok, int64_t ns, const std::string& error) {
  if (ok) {
    result.latencies_ns.push_back(ns);
    return;
  }
  ++result.errors;
  if (result.first_error.empty()) result.first_error = error;
}

void Series::finish() {
  std::sort(result.latencies_ns.begin(), result.latencies_ns.end());
  result.ok = result.latencies_ns.size();
}

void print_series(const Series& s) {
  const char* n = s.name.c_str();
  if (!s.unavailable.empty()) {
    std::printf("coldstart_%s: unavailable: %s\n", n, s.unavailable.c_str());
    return;
  }
  const RunResult& r = s.result;
  std::printf("coldstart_%s_calls: %llu\n", n, static_cast<unsigned long long>(r.ok));
  std::printf("coldstart_%s_p50_us: %.1f\n", n, r.percentile_us(50));
  std::printf("coldstart_%s_p90_us: %.1f\n", n, r.percentile_us(90));
  std::printf("coldstart_%s_p99_us: %.1f\n", n, r.percentile_us(99));
  std::printf("coldstart_%s_max_us: %.1f\n", n,
              r.latencies_ns.empty() ? 0.0 : static_cast<double>(r.latencies_ns.back()) / 1000.0);
  std::printf("coldstart_%s_errors: %llu\n", n, static_cast<unsigned long long>(r.errors));
  if (!r.first_error.empty())
    std::printf("coldstart_%s_first_error: %s\n", n, r.first_error.c_str());
}

void print_ratios(std::string_view label, const Series& a, const Series& b) {
  if (!a.measured() || !b.measured()) return;
  const auto l = static_cast<int>(label.size());
  for (const double p : {50.0, 99.0}) {
    std::printf("coldstart_ratio_%.*s_p%.0f: %.3f\n", l, label.data(), p,
                a.result.percentile_us(p) / b.result.percentile_us(p));
  }
}

}  // namespace fnr::bench
