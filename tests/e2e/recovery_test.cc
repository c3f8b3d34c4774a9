// A supervisor SIGKILLed with a call in flight: its worker and the
// function die with it (parent-death signals), and the next supervisor of
// the same name starts clean: the stale ledger rebuilt empty, the dead
// container's cgroups and scratch removed, new calls served.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/background_call.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using std::chrono::seconds;
using RecoveryTest = RunnerTest;

TEST_F(RecoveryTest, RestartAfterSigkillCleansUpAndServes) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: needs root (cgroups)";
  auto lb = runner_->lb();
  TestCall call;
  call.sleep_ms(60000);
  BackgroundCall running(*lb, call.json());
  const pid_t worker = runner_->wait_for_worker(call.id, seconds(10));
  ASSERT_NE(worker, 0);
  const pid_t init = RunnerHarness::wait_for_function(worker, seconds(10));
  ASSERT_NE(init, 0);
  std::vector<std::string> cgroups;
  ASSERT_TRUE(
      wait_until([&] { return !(cgroups = container_cgroup_dirs(init)).empty(); }, seconds(10)));
  const PidWatch worker_watch(worker);
  const PidWatch init_watch(init);

  runner_->signal(SIGKILL);
  ASSERT_TRUE(runner_->wait_exit(seconds(10)).has_value());
  running.wait();
  EXPECT_TRUE(worker_watch.wait_exit(seconds(10))) << "worker outlived its supervisor";
  EXPECT_TRUE(init_watch.wait_exit(seconds(10))) << "container outlived its worker";

  // The crashed supervisor left its ledger (with the call's reservation)
  // and the container's cgroups; a new one of the same name removes them.
  ASSERT_TRUE(runner_->start());
  EXPECT_TRUE(runner_->wait_for_log("stale ledger", seconds(5))) << runner_->log();
  for (const auto& d : cgroups) EXPECT_FALSE(std::filesystem::exists(d)) << d << " survived";
  EXPECT_TRUE(runner_->ledger().entries.empty());
  EXPECT_EQ(runner_->ledger().reserved_mib, 0U);

  TestCall next;
  auto out = runner_->lb()->engage(next.json(), "after the crash");
  EXPECT_TRUE(finished_ok(out, next.id));
  EXPECT_EQ(out.body, "after the crash");
}

}  // namespace
}  // namespace fnr::e2e
