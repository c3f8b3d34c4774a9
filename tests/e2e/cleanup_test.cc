// Nothing outlives a call: when the LB goes away mid-call the worker and the
// function die and the capacity comes back; a function that forks a child
// which never exits does not leave that child behind.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "shared/unique_fd.h"
#include "tests/e2e/background_call.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

using CleanupTest = RunnerTest;

TEST_F(CleanupTest, ClientCancelKillsWorkerAndFunctionAndReleasesCapacity) {
  // The generated stub, so that the cancel comes provably after the ack.
  auto stub = runner_->stub();
  for (const LbMode mode : {LbMode::kApril, LbMode::kMay}) {
    SCOPED_TRACE(std::string(client::lb_mode_name(mode)));
    TestCall call;
    call.sleep_ms(60000);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(30));
    auto stream = stub->Engage(&ctx);
    ClientMsg msg;
    msg.mutable_try_()->set_models_call_json(call.json());
    ASSERT_TRUE(stream->Write(msg));
    if (mode == LbMode::kMay) {  // May sends the body without waiting for the ack
      msg.mutable_data()->set_data("never read");
      msg.mutable_data()->set_eof(true);
      ASSERT_TRUE(stream->Write(msg));
    }
    RunnerMsg in;
    ASSERT_TRUE(stream->Read(&in));
    ASSERT_TRUE(in.has_acknowledged() && in.acknowledged().committed());
    const pid_t worker = runner_->wait_for_worker(call.id, seconds(10));
    ASSERT_NE(worker, 0) << "call never ran";
    const PidWatch worker_watch(worker);
    const pid_t function = RunnerHarness::wait_for_function(worker, seconds(10));
    ASSERT_NE(function, 0) << "the worker never started the function";
    const PidWatch function_watch(function);

    ctx.TryCancel();  // the LB's user went away
    while (stream->Read(&in)) {
      EXPECT_FALSE(in.has_finished() && in.finished().success());
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);

    EXPECT_TRUE(worker_watch.wait_exit(seconds(10))) << "worker " << worker << " outlived the call";
    EXPECT_TRUE(function_watch.wait_exit(seconds(10)))
        << "function " << function << " outlived the call";
    EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
    EXPECT_TRUE(runner_->wait_for_log("call " + call.id + " ended", seconds(5)));
  }
}

TEST_F(CleanupTest, ForkedChildOfFunctionIsKilled) {
  auto lb = runner_->lb(LbMode::kMay);
  TestCall call;
  call.mode("spawn");
  const std::string marker = "TEST_MARKER=" + call.id + "-marker";
  call.config["TEST_MARKER"] = call.id + "-marker";

  // The body comes from a pipe we hold open, so the function (which echoes
  // until EOF) and its forked child are both alive while we look.
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd body_read(fds[0]), body_write(fds[1]);
  ASSERT_EQ(::write(body_write.get(), "ping\n", 5), 5);
  BackgroundCall running(*lb, call.json(), client::BodySource::from_fd(body_read.get()));

  // Both carry the marker in their environment: this proves the scan below
  // would see a leftover.
  ASSERT_TRUE(wait_until([&] { return processes_with_env(marker).size() >= 2; }, seconds(10)))
      << "expected the function and its child; found " << processes_with_env(marker).size();
  const pid_t worker = runner_->wait_for_worker(call.id, seconds(5));
  ASSERT_NE(worker, 0);
  const PidWatch worker_watch(worker);

  body_write.reset();  // EOF: the function echoes and exits, its child does not
  const client::CallOutcome& out = running.wait();
  EXPECT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "ping\n");

  EXPECT_TRUE(worker_watch.wait_exit(seconds(10)));
  for (const pid_t left : processes_with_env(marker)) {
    const PidWatch w(left);
    EXPECT_TRUE(w.wait_exit(seconds(5))) << "process " << left << " of the call is still alive";
  }
  EXPECT_TRUE(processes_with_env(marker).empty());
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
}

}  // namespace
}  // namespace fnr::e2e
