// Spare workers: the pool keeps spare_workers (2) started ahead of demand.
// A spawn that fails (here the worker binary is not executable for a while)
// must not stop the pool from starting spares again once spawning works:
// the soak found a runner that had lost its spares for good after a
// transient failure, every cold call then paying for its own spawn.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/oci_builder.h"

namespace fnr::e2e {
namespace {

namespace fs = std::filesystem;
using client::LbMode;
using std::chrono::seconds;

constexpr size_t kSpares = 2;  // the default spare_workers

class SpareWorkersTest : public RunnerTest {
 protected:
  void SetUp() override {
    dir_ = test_support::make_temp_dir("fnr-spares");
    worker_ = dir_ + "/fn-runner-worker";
    fs::copy_file(std::string(FNR_BIN_DIR) + "/fn-runner-worker", worker_);
    RunnerTest::SetUp();
  }
  void TearDown() override {
    RunnerTest::TearDown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  RunnerOptions runner_options() override {
    RunnerOptions o;
    o.extra_args = {"--worker=" + worker_};
    return o;
  }
  // With no call running and no container idle, every child is a spare.
  [[nodiscard]] size_t spares() const { return children_of(runner_->pid()).size(); }

  std::string dir_;
  std::string worker_;
};

TEST_F(SpareWorkersTest, SparesComeBackAfterSpawnsFailed) {
  ASSERT_TRUE(wait_until([&] { return spares() == kSpares; }, seconds(10))) << spares();

  // Even root cannot execute a file without an execute bit.
  fs::permissions(worker_, fs::perms::owner_read | fs::perms::owner_write);
  for (const pid_t w : children_of(runner_->pid())) ::kill(w, SIGKILL);
  ASSERT_TRUE(wait_until(
      [&] {
        return spares() == 0 &&
               runner_->log().find("cannot start a spare worker") != std::string::npos;
      },
      seconds(10)))
      << "spares " << spares() << "; the pool never tried to replace the killed ones";

  // Spawning works again: the next cold call starts its own worker and the
  // pool asks for spares again.
  fs::permissions(worker_, fs::perms::owner_all);
  TestCall call;
  call.mode("echo");
  EXPECT_TRUE(finished_ok(runner_->lb(LbMode::kMay)->engage(call.json(), "x"), call.id));
  EXPECT_TRUE(wait_until([&] { return spares() == kSpares; }, seconds(10)))
      << "spares " << spares() << " of " << kSpares << " after spawning works again";
}

}  // namespace
}  // namespace fnr::e2e
