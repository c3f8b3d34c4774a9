// The supervisor's metrics registry and its Prometheus text page, read back
// with a strict parser (tests/support/prometheus_text.h).
#include "supervisor/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/support/prometheus_text.h"

namespace fnr {
namespace {

using test_support::MetricsPage;
using test_support::parse_metrics_page;

MetricsPage parse(const std::string& text) {
  std::string error;
  auto page = parse_metrics_page(text, &error);
  EXPECT_TRUE(page) << error << "\n" << text;
  return page.value_or(MetricsPage{});
}

TEST(MetricsTest, FreshPageHasEveryFamilyWithItsType) {
  const Metrics m;
  const MetricsPage page = parse(m.render({256ULL << 20, 0}));
  const std::map<std::string, std::string> want = {
      {"fn_runner_calls_total", "counter"},           {"fn_runner_nacks_total", "counter"},
      {"fn_runner_call_queue_seconds", "histogram"},  {"fn_runner_cold_start_seconds", "histogram"},
      {"fn_runner_execution_seconds", "histogram"},   {"fn_runner_capacity_total_bytes", "gauge"},
      {"fn_runner_capacity_reserved_bytes", "gauge"}, {"fn_runner_containers", "gauge"},
      {"fn_runner_evictions_total", "counter"},       {"fn_runner_worker_crashes_total", "counter"},
      {"fn_runner_oom_kills_total", "counter"},
  };
  EXPECT_EQ(page.types, want);
  EXPECT_EQ(page.value("fn_runner_capacity_total_bytes"), 268435456.0);
  EXPECT_TRUE(page.has("fn_runner_capacity_reserved_bytes"));
  for (const char* reason :
       {"shutting_down", "invalid_call", "capacity", "runner_fault", "protocol_error"}) {
    const std::string series = std::string("fn_runner_nacks_total{reason=\"") + reason + "\"}";
    EXPECT_TRUE(page.has(series)) << series;
  }
  for (const char* state : {"starting", "busy", "idle"}) {
    const std::string series = std::string("fn_runner_containers{state=\"") + state + "\"}";
    EXPECT_TRUE(page.has(series)) << series;
  }
  EXPECT_EQ(page.value("fn_runner_execution_seconds_count"), 0);
  EXPECT_TRUE(page.has("fn_runner_execution_seconds_bucket{le=\"+Inf\"}"));
  EXPECT_TRUE(page.has("fn_runner_execution_seconds_bucket{le=\"0.0001\"}"));
  EXPECT_TRUE(page.has("fn_runner_execution_seconds_bucket{le=\"60\"}"));
  EXPECT_TRUE(page.has("fn_runner_worker_crashes_total"));
  EXPECT_TRUE(page.has("fn_runner_oom_kills_total"));
  // No call ended yet: no code series at all.
  for (const auto& [series, value] : page.samples) {
    EXPECT_NE(series.rfind("fn_runner_calls_total{", 0), 0U) << series;
  }
}

TEST(MetricsTest, CountersAndGaugesShowWhatHappened) {
  Metrics m;
  m.call_ended(200);
  m.call_ended(200);
  m.call_ended(502);
  m.call_ended(504);
  m.call_ended(499);
  m.call_ended(42);  // not an HTTP status: counted, not lost
  m.nack(NackReason::kCapacity);
  m.nack(NackReason::kInvalidCall);
  m.nack(NackReason::kInvalidCall);
  m.eviction(EvictionReason::kCapacity);
  m.eviction(EvictionReason::kIdleTimeout);
  m.eviction(EvictionReason::kIdleTimeout);
  m.worker_crash();
  m.oom_kill();
  m.container_enter(ContainerState::kStarting);
  m.container_leave(ContainerState::kStarting);
  m.container_enter(ContainerState::kBusy);
  m.container_enter(ContainerState::kIdle);
  m.container_enter(ContainerState::kIdle);
  const MetricsPage page = parse(m.render({1024, 512}));

  EXPECT_EQ(page.value("fn_runner_calls_total{code=\"200\"}"), 2);
  EXPECT_EQ(page.value("fn_runner_calls_total{code=\"502\"}"), 1);
  EXPECT_EQ(page.value("fn_runner_calls_total{code=\"504\"}"), 1);
  EXPECT_EQ(page.value("fn_runner_calls_total{code=\"499\"}"), 1);
  EXPECT_EQ(page.value("fn_runner_calls_total{code=\"other\"}"), 1);
  EXPECT_FALSE(page.has("fn_runner_calls_total{code=\"500\"}"));
  EXPECT_EQ(page.value("fn_runner_nacks_total{reason=\"capacity\"}"), 1);
  EXPECT_EQ(page.value("fn_runner_nacks_total{reason=\"invalid_call\"}"), 2);
  EXPECT_EQ(page.value("fn_runner_nacks_total{reason=\"shutting_down\"}"), 0);
  EXPECT_EQ(page.value("fn_runner_evictions_total{reason=\"capacity\"}"), 1);
  EXPECT_EQ(page.value("fn_runner_evictions_total{reason=\"idle_timeout\"}"), 2);
  EXPECT_EQ(page.value("fn_runner_worker_crashes_total"), 1);
  EXPECT_EQ(page.value("fn_runner_oom_kills_total"), 1);
  EXPECT_EQ(page.value("fn_runner_containers{state=\"starting\"}"), 0);
  EXPECT_EQ(page.value("fn_runner_containers{state=\"busy\"}"), 1);
  EXPECT_EQ(page.value("fn_runner_containers{state=\"idle\"}"), 2);
  EXPECT_EQ(page.value("fn_runner_capacity_total_bytes"), 1024);
  EXPECT_EQ(page.value("fn_runner_capacity_reserved_bytes"), 512);
}

TEST(MetricsTest, HistogramBucketsAreUpperInclusiveAndCumulative) {
  Metrics m;
  m.execution.observe_ns(50'000);          // 50 µs: the first bucket
  m.execution.observe_ns(1'000'000);       // exactly 1 ms: le="0.001" includes it
  m.execution.observe_ns(1'000'001);       // just over: le="0.0025"
  m.execution.observe_ns(90'000'000'000);  // 90 s: past every bound, +Inf only
  m.execution.observe_ns(-5);              // a clock step backwards counts as 0
  const MetricsPage page = parse(m.render({}));
  const auto bucket = [&](const char* le) {
    return page.value(std::string("fn_runner_execution_seconds_bucket{le=\"") + le + "\"}");
  };
  EXPECT_EQ(bucket("0.0001"), 2);
  EXPECT_EQ(bucket("0.0005"), 2);
  EXPECT_EQ(bucket("0.001"), 3);
  EXPECT_EQ(bucket("0.0025"), 4);
  EXPECT_EQ(bucket("60"), 4);
  EXPECT_EQ(bucket("+Inf"), 5);
  EXPECT_EQ(page.value("fn_runner_execution_seconds_count"), 5);
  EXPECT_NEAR(page.value("fn_runner_execution_seconds_sum"), 90.002050001, 1e-9);
  EXPECT_EQ(page.value("fn_runner_call_queue_seconds_count"), 0);
  EXPECT_EQ(page.value("fn_runner_cold_start_seconds_count"), 0);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Metrics m;
  constexpr int kThreads = 4;
  constexpr int kEach = 20000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < kEach; ++i) {
        m.call_ended(200);
        m.queue.observe_ns(i);
        m.container_enter(ContainerState::kBusy);
        m.container_leave(ContainerState::kBusy);
      }
    });
  }
  // Scraping while others write must always give a well-formed page.
  for (int i = 0; i < 20; ++i) parse(m.render({}));
  for (auto& t : threads) t.join();
  const MetricsPage page = parse(m.render({}));
  EXPECT_EQ(page.value("fn_runner_calls_total{code=\"200\"}"), kThreads * kEach);
  EXPECT_EQ(page.value("fn_runner_call_queue_seconds_count"), kThreads * kEach);
  EXPECT_EQ(page.value("fn_runner_containers{state=\"busy\"}"), 0);
}

// The parser is what the tests trust the page's format to: it must refuse
// what Prometheus would.
TEST(MetricsTest, StrictParserRefusesMalformedPages) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"x 1\n", "sample before its TYPE"},
      {"# TYPE x counter\nx 1", "does not end with a newline"},
      {"# TYPE x counter\n\nx 1\n", "empty line"},
      {"# TYPE x counter\nx{a=\"1\" 1\n", "unterminated"},
      {"# TYPE x counter\nx 1 123\n", "bad value"},
      {"# TYPE x counter\nx -1\n", "negative counter"},
      {"# TYPE x counter\n# TYPE x gauge\n", "second TYPE"},
      {"# TYPE x counter\n# TYPE y counter\nx{a=\"1\"} 1\ny 1\nx{a=\"2\"} 1\n", "not contiguous"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
       "not cumulative"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf"},
      {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", "differs from _count"},
  };
  for (const auto& [text, want] : bad) {
    std::string error;
    EXPECT_FALSE(parse_metrics_page(text, &error)) << text;
    EXPECT_NE(error.find(want), std::string::npos) << "error \"" << error << "\" for:\n" << text;
  }
}

}  // namespace
}  // namespace fnr
