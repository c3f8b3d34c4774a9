// Capacity: a call whose memory does not fit in what is free is NACKed the
// way both LB builds understand (April: ack committed=false; May: gRPC
// 503), a NACK reserves nothing, and cancelling the call that held the
// memory gives it back.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/e2e/background_call.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

class CapacityTest : public RunnerTest {
 protected:
  RunnerOptions runner_options() override {
    RunnerOptions o;
    o.max_total_memory_bytes = 256ULL << 20;
    return o;
  }
};

TestCall echo_call(int memory_mib) {
  TestCall c;
  c.mode("echo");
  c.memory_mib = memory_mib;
  return c;
}

TEST_F(CapacityTest, NacksWhenMemoryIsShortAndReleasesItAfterCancel) {
  auto april = runner_->lb(LbMode::kApril);
  auto may = runner_->lb(LbMode::kMay);
  ASSERT_TRUE(april && may);
  ASSERT_EQ(runner_->ledger().total_mib, 256U);

  TestCall sleeper;
  sleeper.mode("sleep");
  sleeper.config["TEST_SLEEP_MS"] = "60000";
  sleeper.memory_mib = 200;
  BackgroundCall held(*may, sleeper.json());
  const pid_t worker = runner_->wait_for_worker(sleeper.id, seconds(10));
  ASSERT_NE(worker, 0) << "the 200 MiB call never showed up as running in the ledger";
  const PidWatch worker_watch(worker);
  const pid_t function = RunnerHarness::wait_for_function(worker, seconds(10));
  ASSERT_NE(function, 0) << "the worker never started the function";
  const PidWatch function_watch(function);
  ASSERT_EQ(runner_->ledger().reserved_mib, 200U);

  // 128 MiB > 56 MiB free: April sees the NACK and would try the next runner.
  const TestCall april_call = echo_call(128);
  const client::CallOutcome a = april->engage(april_call.json(), "hello");
  EXPECT_TRUE(nacked(a));
  EXPECT_TRUE(a.verdict.try_next_runner) << describe(a);
  EXPECT_EQ(a.request_bytes_sent, 0U) << "April must not send the body after a NACK";

  // May ignores the ack: only the 503 status makes it move on.
  const TestCall may_call = echo_call(128);
  const client::CallOutcome m = may->engage(may_call.json(), "hello");
  EXPECT_EQ(m.grpc_code, 503) << describe(m);
  EXPECT_TRUE(m.verdict.try_next_runner) << describe(m);
  EXPECT_FALSE(m.finished_success);
  EXPECT_FALSE(m.has_result_start);

  // More than the runner has at all: NACKed, under either LB.
  const TestCall huge_april = echo_call(512);
  const client::CallOutcome ha = april->engage(huge_april.json(), "hello");
  EXPECT_TRUE(nacked(ha));
  EXPECT_NE(ha.ack_details.find("512"), std::string::npos) << describe(ha);
  const TestCall huge_may = echo_call(512);
  const client::CallOutcome hm = may->engage(huge_may.json(), "hello");
  EXPECT_EQ(hm.grpc_code, 503) << describe(hm);

  // NACKs held nothing, and what does fit still runs.
  EXPECT_EQ(runner_->ledger().reserved_mib, 200U);
  const TestCall fits = echo_call(56);
  const client::CallOutcome f = april->engage(fits.json(), "fits");
  EXPECT_TRUE(finished_ok(f, fits.id));
  EXPECT_EQ(f.body, "fits");

  held.cancel();
  const client::CallOutcome& h = held.wait();
  EXPECT_TRUE(h.cancelled_by_us) << describe(h);
  EXPECT_FALSE(h.finished_success) << describe(h);
  EXPECT_TRUE(worker_watch.wait_exit(seconds(10))) << "worker " << worker << " still alive";
  EXPECT_TRUE(function_watch.wait_exit(seconds(10))) << "function " << function << " still alive";
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));

  // The freed memory is usable: a call of 200 MiB fits again.
  const TestCall again = echo_call(200);
  const client::CallOutcome g = may->engage(again.json(), "again");
  EXPECT_TRUE(finished_ok(g, again.id));
}

}  // namespace
}  // namespace fnr::e2e
