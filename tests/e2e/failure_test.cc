// Calls that fail end with finished{success=false, details="<code>:<message>"}
// as the May LB parses it, and leave nothing behind: a timeout, a function
// that exits non-zero, an image that does not exist, a worker that dies.
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

using FailureTest = RunnerTest;

TEST_F(FailureTest, TimeoutIs504) {
  auto lb = runner_->lb(LbMode::kMay);
  TestCall call;
  call.sleep_ms(60000);
  call.timeout_s = 1;
  client::CallOptions o;
  // Longer than the call's timeout, so it is the runner's answer we see.
  o.deadline = std::chrono::milliseconds((call.timeout_s + 5) * 1000);

  const client::CallOutcome out = lb->engage(call.json(), "", o);

  EXPECT_TRUE(committed_ack(out, call.id));
  EXPECT_TRUE(failed_with(out, 504, "504:Timed out"));
  EXPECT_EQ(out.details, "504:Timed out");
  EXPECT_EQ(out.verdict.http_status, 504) << describe(out);
  EXPECT_LT(out.latency, std::chrono::seconds(4)) << "the 1 s timeout was not enforced promptly";
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
}

TEST_F(FailureTest, FailingFunctionIs502) {
  auto lb = runner_->lb(LbMode::kMay);
  TestCall call;
  call.mode("fail");

  const client::CallOutcome out = lb->engage(call.json(), "input");

  EXPECT_TRUE(failed_with(out, 502, "502:function failed"));
  EXPECT_EQ(out.details, "502:function failed");
  EXPECT_EQ(out.verdict.http_status, 502) << describe(out);
  // The function's stderr is its log, tagged with the call id.
  EXPECT_TRUE(runner_->wait_for_log(
      "call " + call.id + ": function: test function failing on purpose", seconds(5)));
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
}

TEST_F(FailureTest, UnknownImageIs502NamingTheImage) {
  auto lb = runner_->lb(LbMode::kMay);
  TestCall call;
  call.image = "e2e/no-such-image:7";

  const client::CallOutcome out = lb->engage(call.json(), "input");

  EXPECT_TRUE(failed_with(out, 502, "502:"));
  EXPECT_NE(out.details.find(call.image), std::string::npos) << describe(out);
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
}

TEST_F(FailureTest, WorkerKilledMidCallIs502AndCleansUp) {
  auto lb = runner_->lb(LbMode::kMay);
  TestCall call;
  call.sleep_ms(60000);
  BackgroundCall running(*lb, call.json());
  const pid_t worker = runner_->wait_for_worker(call.id, seconds(10));
  ASSERT_NE(worker, 0) << "call never ran";
  const PidWatch worker_watch(worker);
  const pid_t function = RunnerHarness::wait_for_function(worker, seconds(10));
  ASSERT_NE(function, 0) << "the worker never started the function";
  const PidWatch function_watch(function);

  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  const client::CallOutcome& out = running.wait();

  EXPECT_TRUE(failed_with(out, 502, "502:"));
  EXPECT_FALSE(out.cancelled_by_us);
  EXPECT_LT(out.latency, seconds(20)) << "the crash was noticed only at a timeout";
  EXPECT_TRUE(worker_watch.wait_exit(seconds(5)));
  EXPECT_TRUE(function_watch.wait_exit(seconds(5)))
      << "function " << function << " outlived its worker";
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
  EXPECT_FALSE(runner_->reservation(call.id).has_value());
  EXPECT_TRUE(runner_->wait_for_log("call " + call.id + " ended: result=502", seconds(5)));

  TestCall next;
  next.mode("echo");
  const client::CallOutcome after = lb->engage(next.json(), "still alive");
  EXPECT_TRUE(finished_ok(after, next.id));
  EXPECT_EQ(after.body, "still alive");
}

}  // namespace
}  // namespace fnr::e2e
