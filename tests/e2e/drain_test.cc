// SIGTERM drains: calls in flight finish normally, new ones are refused,
// and the runner then exits 0.
#include <gtest/gtest.h>
#include <signal.h>

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

using DrainTest = RunnerTest;

TEST_F(DrainTest, InFlightCallFinishesNewCallsAreRefusedExitIsClean) {
  auto lb = runner_->lb(LbMode::kApril);
  TestCall slow;
  slow.sleep_ms(1500);
  BackgroundCall in_flight(*lb, slow.json(), "drain me");
  ASSERT_NE(runner_->wait_for_worker(slow.id, seconds(10)), 0) << "call never ran";

  runner_->signal(SIGTERM);
  ASSERT_TRUE(runner_->wait_for_log("draining", seconds(5))) << "no sign of draining";

  for (const LbMode mode : {LbMode::kApril, LbMode::kMay}) {
    SCOPED_TRACE(std::string(client::lb_mode_name(mode)));
    const client::CallOutcome out = runner_->late_echo_call(mode, "too late");
    EXPECT_FALSE(out.committed) << describe(out);
    EXPECT_FALSE(out.finished_success) << describe(out);
    EXPECT_TRUE(out.body.empty()) << describe(out);
    EXPECT_NE(out.grpc_code, 0) << describe(out);
    EXPECT_NE(out.grpc_code, static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED))
        << "refusal should be prompt: " << describe(out);
  }

  const client::CallOutcome& out = in_flight.wait();
  EXPECT_TRUE(committed_ack(out, slow.id));
  EXPECT_TRUE(finished_ok(out, slow.id));
  EXPECT_EQ(out.body, "drain me");

  EXPECT_TRUE(exited_cleanly(runner_->wait_exit(seconds(20))));
}

}  // namespace
}  // namespace fnr::e2e
