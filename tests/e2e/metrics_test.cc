// Prometheus metrics (issue 5): the real runner serves GET /metrics on the
// configured address; the page is scraped and parsed strictly before and
// after known calls (a success, a function error, a timeout, NACKs, a call
// the LB gave up on, an OOM kill, a crashed worker, hot containers going
// idle and being evicted), and the counters move by exactly what happened.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "tests/e2e/background_call.h"
#include "tests/e2e/http_get.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/test_images.h"

namespace fnr::e2e {
namespace {

using std::chrono::seconds;
using test_support::MetricsPage;

constexpr uint64_t kCapacityMib = 256;
constexpr double bytes_of_mib(uint64_t mib) { return static_cast<double>(mib << 20); }

class MetricsTest : public RunnerTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: the runner's sandbox needs root";
    RunnerTest::SetUp();
    ASSERT_TRUE(runner_->wait_for_log("metrics on http://", seconds(5))) << runner_->log();
    std::smatch m;
    const std::string log = runner_->log();
    ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(/metrics \(port (\d+)\))"))) << log;
    port_ = std::stoi(m[1]);
    ASSERT_GT(port_, 0);
  }

  RunnerOptions runner_options() override {
    RunnerOptions o;
    o.max_total_memory_bytes = kCapacityMib << 20;
    // Port 0: the runner binds a free port and logs it; no probe-then-bind race.
    o.extra_args.push_back("--metrics-address=127.0.0.1:0");
    return o;
  }

  MetricsPage scrape() {
    std::string error;
    auto reply = http_request(port_, "GET", "/metrics", &error);
    EXPECT_TRUE(reply) << error;
    if (!reply) return {};
    EXPECT_EQ(reply->status, 200);
    auto page = test_support::parse_metrics_page(reply->body, &error);
    EXPECT_TRUE(page) << error << "\n" << reply->body;
    last_text_ = reply->body;
    return page.value_or(MetricsPage{});
  }

  // Gauges follow the loop thread a moment behind what a client saw.
  bool wait_for_value(const std::string& series, double want) {
    return wait_until([&] { return scrape().value(series) == want; }, std::chrono::seconds(10));
  }

  static double delta(const MetricsPage& before, const MetricsPage& after,
                      const std::string& series) {
    return after.value(series) - before.value(series);
  }

  int port_ = 0;
  std::string last_text_;
};

TestCall echo_call(int memory_mib) {
  TestCall c;
  c.mode("echo");
  c.memory_mib = memory_mib;
  return c;
}

TEST_F(MetricsTest, ServesOnlyGetMetrics) {
  std::string error;
  auto page = http_request(port_, "GET", "/metrics", &error);
  ASSERT_TRUE(page) << error;
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  auto other = http_request(port_, "GET", "/", &error);
  ASSERT_TRUE(other) << error;
  EXPECT_EQ(other->status, 404);
  auto post = http_request(port_, "POST", "/metrics", &error);
  ASSERT_TRUE(post) << error;
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->headers["allow"], "GET, HEAD");
}

TEST_F(MetricsTest, KnownCallsMoveTheCountersByExactlyWhatHappened) {
  const MetricsPage before = scrape();
  EXPECT_EQ(before.value("fn_runner_capacity_total_bytes"), bytes_of_mib(kCapacityMib));
  EXPECT_EQ(before.value("fn_runner_capacity_reserved_bytes"), 0);
  auto lb = runner_->lb();

  const TestCall ok = echo_call(64);
  EXPECT_TRUE(finished_ok(lb->engage(ok.json(), "hi"), ok.id));

  TestCall fail = echo_call(64);
  fail.mode("fail");
  EXPECT_TRUE(failed_with(lb->engage(fail.json(), "x"), 502, "502:function failed"));

  TestCall slow = echo_call(64);
  slow.sleep_ms(60000);
  slow.timeout_s = 1;
  client::CallOptions o;
  o.deadline = std::chrono::milliseconds(6000);
  EXPECT_TRUE(failed_with(lb->engage(slow.json(), "", o), 504, "504:Timed out"));

  // 200 of 256 MiB held by a running call: a 128 MiB call is NACKed for
  // capacity, and one larger than the runner for being invalid.
  // Capacity comes back once the last worker is gone, a moment after its answer.
  ASSERT_TRUE(runner_->wait_ledger_empty(seconds(10)));
  TestCall sleeper = echo_call(200);
  sleeper.sleep_ms(60000);
  BackgroundCall held(*lb, sleeper.json());
  ASSERT_NE(runner_->wait_for_worker(sleeper.id, seconds(10)), 0);
  EXPECT_TRUE(wait_for_value("fn_runner_containers{state=\"busy\"}", 1)) << last_text_;
  const MetricsPage during = scrape();
  EXPECT_EQ(during.value("fn_runner_capacity_reserved_bytes"), bytes_of_mib(200));
  EXPECT_EQ(during.value("fn_runner_containers{state=\"starting\"}"), 0);
  EXPECT_EQ(during.value("fn_runner_containers{state=\"idle\"}"), 0);

  EXPECT_TRUE(nacked(lb->engage(echo_call(128).json(), "x")));
  EXPECT_TRUE(nacked(lb->engage(echo_call(512).json(), "x")));
  EXPECT_TRUE(nacked(lb->engage("{not json", "x")));

  // The LB gives up on the held call: 499.
  held.cancel();
  EXPECT_TRUE(held.wait().cancelled_by_us);
  ASSERT_TRUE(runner_->wait_ledger_empty(seconds(10)));
  EXPECT_TRUE(wait_for_value("fn_runner_containers{state=\"busy\"}", 0)) << last_text_;
  // The cancelled call is over for the supervisor only once the loop saw it.
  EXPECT_TRUE(wait_for_value("fn_runner_calls_total{code=\"499\"}",
                             before.value("fn_runner_calls_total{code=\"499\"}") + 1))
      << last_text_;

  const MetricsPage after = scrape();
  EXPECT_EQ(delta(before, after, "fn_runner_calls_total{code=\"200\"}"), 1) << last_text_;
  EXPECT_EQ(delta(before, after, "fn_runner_calls_total{code=\"502\"}"), 1);
  EXPECT_EQ(delta(before, after, "fn_runner_calls_total{code=\"504\"}"), 1);
  EXPECT_EQ(delta(before, after, "fn_runner_calls_total{code=\"499\"}"), 1);
  EXPECT_EQ(delta(before, after, "fn_runner_nacks_total{reason=\"capacity\"}"), 1);
  EXPECT_EQ(delta(before, after, "fn_runner_nacks_total{reason=\"invalid_call\"}"), 2);
  EXPECT_EQ(delta(before, after, "fn_runner_nacks_total{reason=\"shutting_down\"}"), 0);
  // Placed on a worker: ok, fail, slow, sleeper.
  EXPECT_EQ(delta(before, after, "fn_runner_call_queue_seconds_count"), 4);
  // Each of them started a container (default format: one per call).
  EXPECT_EQ(delta(before, after, "fn_runner_cold_start_seconds_count"), 4);
  EXPECT_GT(delta(before, after, "fn_runner_cold_start_seconds_sum"), 0);
  // Timed by their workers: ok, fail, and slow (the worker's own deadline
  // answers a second before the supervisor's); the cancelled call never
  // finished.
  EXPECT_EQ(delta(before, after, "fn_runner_execution_seconds_count"), 3);
  // The deadline counts from the Try, the execution from the worker's start.
  EXPECT_GE(delta(before, after, "fn_runner_execution_seconds_sum"), 0.9)
      << "the timed-out call ran for (nearly) its whole second";
  EXPECT_EQ(after.value("fn_runner_capacity_reserved_bytes"), 0);
  for (const char* state : {"starting", "busy", "idle"}) {
    EXPECT_EQ(after.value(std::string("fn_runner_containers{state=\"") + state + "\"}"), 0)
        << state;
  }
  EXPECT_EQ(delta(before, after, "fn_runner_worker_crashes_total"), 0);
  EXPECT_EQ(delta(before, after, "fn_runner_oom_kills_total"), 0);
  EXPECT_EQ(delta(before, after, "fn_runner_evictions_total{reason=\"capacity\"}"), 0);
}

TEST_F(MetricsTest, OomKillIsCounted) {
  constexpr const char* kAttackImage = "e2e/attack:1";
  test_support::import_binary_image(runner_->images_dir(), kAttackImage,
                                    std::string(FNR_BIN_DIR) + "/fn-test-attack");
  const MetricsPage before = scrape();
  TestCall call;
  call.image = kAttackImage;
  call.memory_mib = 64;
  call.config["ATTACK"] = "memhog";
  const client::CallOutcome out = runner_->lb()->engage(call.json(), "");
  EXPECT_EQ(out.details,
            "502:container out of memory, you may want to raise fn.memory for this function");
  const MetricsPage after = scrape();
  EXPECT_EQ(delta(before, after, "fn_runner_oom_kills_total"), 1) << last_text_;
  EXPECT_EQ(delta(before, after, "fn_runner_calls_total{code=\"502\"}"), 1);
  EXPECT_EQ(delta(before, after, "fn_runner_worker_crashes_total"), 0);
}

TEST_F(MetricsTest, KilledWorkerIsACrash) {
  const MetricsPage before = scrape();
  auto lb = runner_->lb();
  TestCall call = echo_call(64);
  call.sleep_ms(60000);
  BackgroundCall running(*lb, call.json());
  const pid_t worker = runner_->wait_for_worker(call.id, seconds(10));
  ASSERT_NE(worker, 0);
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  const client::CallOutcome& out = running.wait();
  EXPECT_TRUE(failed_with(out, 502, "502:function runner crashed"));
  ASSERT_TRUE(runner_->wait_ledger_empty(seconds(10)));
  const MetricsPage after = scrape();
  EXPECT_EQ(delta(before, after, "fn_runner_worker_crashes_total"), 1) << last_text_;
  EXPECT_EQ(delta(before, after, "fn_runner_calls_total{code=\"502\"}"), 1);
  EXPECT_EQ(after.value("fn_runner_containers{state=\"busy\"}"), 0);
}

// http-stream containers stay hot: idle between calls, and evicted when
// another function needs their capacity.
TEST_F(MetricsTest, HotContainersShowAsIdleAndEvictionsAreCounted) {
  constexpr const char* kImage = "e2e/metrics-hsfunc:1";
  test_support::import_binary_image(runner_->images_dir(), kImage,
                                    std::string(FNR_BIN_DIR) + "/fn-test-hsfunc");
  const auto hot_call = [&](const std::string& id, const std::string& fn) {
    TestCall call;
    call.id = id;
    call.image = kImage;
    call.format = "http-stream";
    call.memory_mib = 200;  // two of them do not fit in 256 MiB
    call.config["HS_MODE"] = "count";
    call.config["FN"] = fn;
    nlohmann::json j = call.to_json();
    j["idle_timeout"] = 60;
    return j.dump();
  };
  const MetricsPage before = scrape();
  auto lb = runner_->lb();
  const std::string a = new_call_id();
  EXPECT_TRUE(finished_ok(lb->engage(hot_call(a, "a")), a));
  EXPECT_TRUE(wait_for_value("fn_runner_containers{state=\"idle\"}", 1)) << last_text_;
  const MetricsPage idle = scrape();
  EXPECT_EQ(idle.value("fn_runner_containers{state=\"busy\"}"), 0);
  EXPECT_EQ(idle.value("fn_runner_capacity_reserved_bytes"), bytes_of_mib(200));

  // The same function again: the idle container serves it, no cold start.
  const std::string a2 = new_call_id();
  EXPECT_TRUE(finished_ok(lb->engage(hot_call(a2, "a")), a2));
  EXPECT_TRUE(wait_for_value("fn_runner_containers{state=\"idle\"}", 1)) << last_text_;
  EXPECT_EQ(delta(before, scrape(), "fn_runner_cold_start_seconds_count"), 1) << last_text_;

  // Another function: A's idle container is evicted to make room.
  const std::string b = new_call_id();
  EXPECT_TRUE(finished_ok(lb->engage(hot_call(b, "b")), b));
  EXPECT_TRUE(wait_for_value("fn_runner_containers{state=\"idle\"}", 1)) << last_text_;
  const MetricsPage after = scrape();
  EXPECT_EQ(delta(before, after, "fn_runner_evictions_total{reason=\"capacity\"}"), 1);
  EXPECT_EQ(delta(before, after, "fn_runner_evictions_total{reason=\"idle_timeout\"}"), 0);
  EXPECT_EQ(delta(before, after, "fn_runner_cold_start_seconds_count"), 2);
  EXPECT_EQ(delta(before, after, "fn_runner_calls_total{code=\"200\"}"), 3);
  EXPECT_EQ(delta(before, after, "fn_runner_nacks_total{reason=\"capacity\"}"), 0);
  EXPECT_EQ(delta(before, after, "fn_runner_worker_crashes_total"), 0)
      << "an evicted worker is not a crash";
  EXPECT_EQ(after.value("fn_runner_capacity_reserved_bytes"), bytes_of_mib(200));
}

// Off unless configured: a runner started without metrics_address serves
// nothing but gRPC.
using MetricsOffTest = RunnerTest;

TEST_F(MetricsOffTest, NoEndpointByDefault) {
  const std::string log = runner_->log();
  EXPECT_NE(log.find("fn-runner listening on"), std::string::npos) << log;
  EXPECT_EQ(log.find("metrics on"), std::string::npos) << log;
}

}  // namespace
}  // namespace fnr::e2e
