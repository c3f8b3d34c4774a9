// The Status RPC counts what an operator wants to know: engagements in
// progress, Trys received, and Trys handled (not NACKed).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/background_call.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

class StatusTest : public RunnerTest {
 protected:
  RunnerOptions runner_options() override {
    RunnerOptions o;
    o.max_total_memory_bytes = 256ULL << 20;
    return o;
  }
  bool wait_active(int32_t n) {
    return wait_until([&] { return runner_->status().active == n; }, seconds(5));
  }
};

TEST_F(StatusTest, CountsActiveReceivedAndHandled) {
  auto lb = runner_->lb(LbMode::kApril);
  client::RunnerStatusReply s = runner_->status();
  ASSERT_TRUE(s.ok) << s.grpc_message;
  EXPECT_EQ(s.active, 0);
  EXPECT_EQ(s.requests_received, 0U);
  EXPECT_EQ(s.requests_handled, 0U);

  for (int i = 0; i < 3; ++i) {
    TestCall call;
    call.mode("echo");
    EXPECT_TRUE(finished_ok(lb->engage(call.json(), "x"), call.id));
  }
  EXPECT_TRUE(wait_active(0));
  s = runner_->status();
  EXPECT_EQ(s.requests_received, 3U);
  EXPECT_EQ(s.requests_handled, 3U);

  TestCall sleeper;
  sleeper.mode("sleep");
  sleeper.config["TEST_SLEEP_MS"] = "60000";
  BackgroundCall running(*lb, sleeper.json());
  ASSERT_NE(runner_->wait_for_worker(sleeper.id, seconds(10)), 0);
  EXPECT_EQ(runner_->status().active, 1);

  TestCall too_big;
  too_big.memory_mib = 512;  // the runner has 256
  EXPECT_TRUE(nacked(lb->engage(too_big.json(), "x")));
  EXPECT_TRUE(nacked(lb->engage("{not json", "x")));
  EXPECT_TRUE(wait_active(1)) << "NACKed streams still counted as active: "
                              << runner_->status().active;
  s = runner_->status();
  EXPECT_EQ(s.requests_received, 6U);
  EXPECT_EQ(s.requests_handled, 4U) << "NACKed calls must not count as handled";

  running.cancel();
  running.wait();
  EXPECT_TRUE(wait_active(0)) << "active stayed at " << runner_->status().active;
  s = runner_->status();
  EXPECT_EQ(s.requests_received, 6U);
  EXPECT_EQ(s.requests_handled, 4U);
}

// Streams are accepted however many arrive together (the server keeps only
// a few listeners armed), and one abandoned before its Try stops counting.
TEST_F(StatusTest, StreamsAbandonedBeforeTheirTryAreNotLeftActive) {
  constexpr int32_t kStreams = 20;
  auto stub = runner_->stub();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<ClientMsg, RunnerMsg>>> streams;
  for (int32_t i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() + seconds(30));
    streams.push_back(stub->Engage(contexts.back().get()));
  }
  EXPECT_TRUE(wait_active(kStreams))
      << "active " << runner_->status().active << " of " << kStreams << " streams opened";
  for (auto& ctx : contexts) ctx->TryCancel();
  for (auto& stream : streams) {
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(wait_active(0)) << "active stayed at " << runner_->status().active;
  EXPECT_EQ(runner_->status().requests_received, 0U);
  EXPECT_EQ(runner_->ledger().reserved_mib, 0U);

  // The runner still serves.
  TestCall call;
  call.mode("echo");
  EXPECT_TRUE(finished_ok(runner_->lb(LbMode::kMay)->engage(call.json(), "after"), call.id));
}

}  // namespace
}  // namespace fnr::e2e
