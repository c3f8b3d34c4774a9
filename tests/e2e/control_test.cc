// fn-runnerctl drain / resume over the runner's control socket: an operator
// drains a runner before stopping or upgrading it. In-flight calls finish,
// new ones are refused, the drain command returns once nothing is in
// flight, and the runner process stays up; resume makes it serve again.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>

#include "tests/e2e/background_call.h"
#include "tests/e2e/ctl_run.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/test_images.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

using ControlTest = RunnerTest;

TEST_F(ControlTest, DrainWaitsForInFlightCallsRefusesNewOnesAndResumeServesAgain) {
  struct stat st {};
  ASSERT_EQ(::stat(runner_->control_socket().c_str(), &st), 0) << runner_->control_socket();
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600U) << "the control socket is root's alone";

  auto lb = runner_->lb(LbMode::kApril);
  TestCall slow;
  slow.sleep_ms(2000);
  BackgroundCall in_flight(*lb, slow.json(), "drain around me");
  ASSERT_NE(runner_->wait_for_worker(slow.id, seconds(10)), 0) << "call never ran";

  auto drain = std::async(std::launch::async, [&] {
    return run_ctl({"drain", "--socket", runner_->control_socket(), "--timeout", "30"});
  });
  ASSERT_TRUE(runner_->wait_for_log("drain requested on the control socket", seconds(10)))
      << runner_->log();

  for (const LbMode mode : {LbMode::kApril, LbMode::kMay}) {
    SCOPED_TRACE(std::string(client::lb_mode_name(mode)));
    EXPECT_TRUE(nacked(runner_->late_echo_call(mode, "while draining")));
  }
  const CtlResult status = run_ctl({"status", "--ledger", runner_->ledger_name()});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("state: draining"), std::string::npos) << status.output;

  const client::CallOutcome& out = in_flight.wait();
  EXPECT_TRUE(committed_ack(out, slow.id));
  EXPECT_TRUE(finished_ok(out, slow.id));
  EXPECT_EQ(out.body, "drain around me");

  ASSERT_EQ(drain.wait_for(seconds(20)), std::future_status::ready) << "drain never returned";
  const CtlResult drained = drain.get();
  EXPECT_EQ(drained.exit_code, 0) << drained.output;
  EXPECT_NE(drained.output.find("draining: 1 calls in flight"), std::string::npos)
      << drained.output;
  EXPECT_NE(drained.output.find("drained 1 calls"), std::string::npos) << drained.output;

  // Drained, not stopped: the process is there and answers Status.
  ASSERT_TRUE(runner_->running());
  EXPECT_FALSE(PidWatch(runner_->pid()).exited());
  EXPECT_TRUE(runner_->status().ok);
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(10)));

  const CtlResult resumed = run_ctl({"resume", "--socket", runner_->control_socket()});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed"), std::string::npos) << resumed.output;
  TestCall again;
  again.mode("echo");
  const client::CallOutcome served = lb->engage(again.json(), "back in service");
  EXPECT_TRUE(finished_ok(served, again.id));
  EXPECT_EQ(served.body, "back in service");
}

TEST_F(ControlTest, DrainTimeoutLeavesTheRunnerDrainingAndResumeCancelsAWaitingDrain) {
  auto lb = runner_->lb(LbMode::kMay);
  TestCall slow;
  slow.sleep_ms(3000);
  BackgroundCall in_flight(*lb, slow.json(), "outlasts the drain");
  ASSERT_NE(runner_->wait_for_worker(slow.id, seconds(10)), 0) << "call never ran";

  // The operator's patience ends first: exit 1, the runner stays draining.
  const CtlResult timed_out =
      run_ctl({"drain", "--socket", runner_->control_socket(), "--timeout", "1"});
  EXPECT_EQ(timed_out.exit_code, 1) << timed_out.output;
  EXPECT_NE(timed_out.output.find("timeout: 1 calls still in flight"), std::string::npos)
      << timed_out.output;
  TestCall refused;
  refused.mode("echo");
  EXPECT_TRUE(nacked(lb->engage(refused.json(), "still draining")));

  // A second drain waits; resume ends its wait (exit 1) and serves again.
  auto waiting = std::async(std::launch::async, [&] {
    return run_ctl({"drain", "--socket", runner_->control_socket(), "--timeout", "0"});
  });
  // Its request is the runner's second "drain requested" line.
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string log = runner_->log();
        const size_t first = log.find("drain requested");
        return first != std::string::npos &&
               log.find("drain requested", first + 1) != std::string::npos;
      },
      seconds(5)))
      << runner_->log();
  const CtlResult resumed = run_ctl({"resume", "--socket", runner_->control_socket()});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  ASSERT_EQ(waiting.wait_for(seconds(10)), std::future_status::ready) << "drain kept waiting";
  const CtlResult cancelled = waiting.get();
  EXPECT_EQ(cancelled.exit_code, 1) << cancelled.output;
  EXPECT_NE(cancelled.output.find("resumed: drain cancelled"), std::string::npos)
      << cancelled.output;

  TestCall served;
  served.mode("echo");
  EXPECT_TRUE(finished_ok(lb->engage(served.json(), "resumed"), served.id));
  const client::CallOutcome& out = in_flight.wait();
  EXPECT_TRUE(finished_ok(out, slow.id));
  EXPECT_EQ(out.body, "outlasts the drain");
}

TEST_F(ControlTest, DrainOfAnIdleRunnerReturnsAtOnceAndEndsIdleHotContainers) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: the runner's sandbox needs root";
  const std::string function = std::string(FNR_BIN_DIR) + "/fn-test-hsfunc";
  test_support::import_binary_image(runner_->images_dir(), "e2e/ctl-hsfunc:1", function);
  auto lb = runner_->lb(LbMode::kMay);
  // An http-stream call leaves its container hot, idle, holding capacity.
  TestCall hot;
  hot.image = "e2e/ctl-hsfunc:1";
  hot.format = "http-stream";
  hot.config["HS_MODE"] = "count";
  const client::CallOutcome first = lb->engage(hot.json(), "");
  ASSERT_TRUE(finished_ok(first, hot.id)) << runner_->log();
  ASSERT_TRUE(wait_until(
      [&] {
        const auto entries = runner_->ledger().entries;
        return entries.size() == 1 && entries[0].state == ReservationState::kIdle;
      },
      seconds(5)))
      << "no idle hot container";

  const CtlResult drained = run_ctl({"drain", "--socket", runner_->control_socket()});
  EXPECT_EQ(drained.exit_code, 0) << drained.output;
  EXPECT_NE(drained.output.find("drained 0 calls"), std::string::npos) << drained.output;
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(10))) << "idle container kept its capacity";

  const CtlResult resumed = run_ctl({"resume", "--socket", runner_->control_socket()});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
}

}  // namespace
}  // namespace fnr::e2e
