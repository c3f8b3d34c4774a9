#include "bench/driver.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

namespace fnr::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct ThreadResult {
  uint64_t nacks = 0;
  uint64_t errors = 0;
  std::vector<int64_t> latencies_ns;
  std::string first_error;
  Clock::time_point finished_at;
};

}  // namespace

double RunResult::percentile_us(double p) const {
  if (latencies_ns.empty()) return 0;
  const auto rank =
      static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(latencies_ns.size())));
  const size_t index = std::clamp<size_t>(rank, 1, latencies_ns.size()) - 1;
  return static_cast<double>(latencies_ns[index]) / 1000.0;
}

RunResult run_workers(const Options& o, const WorkerFactory& make) {
  const uint32_t c = o.concurrency;
  std::vector<ThreadResult> results(c);
  std::atomic<uint64_t> warm_tickets{0};
  std::atomic<uint64_t> tickets{0};
  // Two phases: everyone is connected and warm, then everyone starts at once
  // against a deadline the main thread sets in between.
  std::barrier ready(static_cast<std::ptrdiff_t>(c) + 1);
  std::barrier go(static_cast<std::ptrdiff_t>(c) + 1);
  Clock::time_point start;
  Clock::time_point end;

  std::vector<std::thread> threads;
  threads.reserve(c);
  for (uint32_t i = 0; i < c; ++i) {
    threads.emplace_back([&, i] {
      ThreadResult& r = results[i];
      std::string error;
      std::unique_ptr<Worker> worker = make(i, &error);
      if (worker) {
        while (warm_tickets.fetch_add(1, std::memory_order_relaxed) < o.warmup) worker->call();
      } else {
        r.errors = 1;
        r.first_error = "worker " + std::to_string(i) + " did not start: " + error;
      }
      ready.arrive_and_wait();
      go.arrive_and_wait();
      if (!worker) return;
      r.latencies_ns.reserve(std::min<uint64_t>(o.calls / c + 16, 1U << 20));
      while (tickets.fetch_add(1, std::memory_order_relaxed) < o.calls && Clock::now() < end) {
        const OpResult op = worker->call();
        switch (op.kind) {
          case OpResult::Kind::kOk:
            r.latencies_ns.push_back(op.latency.count());
            break;
          case OpResult::Kind::kNack:
            ++r.nacks;
            break;
          case OpResult::Kind::kError:
            ++r.errors;
            if (r.first_error.empty()) r.first_error = op.error;
            break;
        }
      }
      // Before the worker's teardown, which is not part of the work measured.
      r.finished_at = Clock::now();
    });
  }
  ready.arrive_and_wait();
  start = Clock::now();
  end = start + o.duration;
  go.arrive_and_wait();
  for (std::thread& t : threads) t.join();

  RunResult out;
  out.concurrency = c;
  Clock::time_point last = start;
  for (ThreadResult& r : results) {
    out.nacks += r.nacks;
    out.errors += r.errors;
    if (out.first_error.empty()) out.first_error = r.first_error;
    out.latencies_ns.insert(out.latencies_ns.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    last = std::max(last, r.finished_at);
  }
  out.ok = out.latencies_ns.size();
  out.seconds = std::chrono::duration<double>(last - start).count();
  std::sort(out.latencies_ns.begin(), out.latencies_ns.end());
  return out;
}

void print_result(std::string_view prefix, const RunResult& r) {
  const auto p = [&](const char* key, const char* fmt, auto value) {
    std::printf("%.*s_%s: ", static_cast<int>(prefix.size()), prefix.data(), key);
    std::printf(fmt, value);
    std::printf("\n");
  };
  p("concurrency", "%u", r.concurrency);
  p("calls", "%llu", static_cast<unsigned long long>(r.ok));
  p("seconds", "%.3f", r.seconds);
  p("calls_per_s", "%.1f", r.calls_per_s());
  p("p50_us", "%.1f", r.percentile_us(50));
  p("p90_us", "%.1f", r.percentile_us(90));
  p("p99_us", "%.1f", r.percentile_us(99));
  p("max_us", "%.1f",
    r.latencies_ns.empty() ? 0.0 : static_cast<double>(r.latencies_ns.back()) / 1000.0);
  p("nacks", "%llu", static_cast<unsigned long long>(r.nacks));
  p("errors", "%llu", static_cast<unsigned long long>(r.errors));
  if (!r.first_error.empty()) p("first_error", "%s", r.first_error.c_str());
  std::fflush(stdout);
}

}  // namespace fnr::bench
