// A call's body goes to the function and its output comes back byte for
// byte, under both 2018 LB behaviours, for empty, tiny and large bodies.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;

class EchoTest : public RunnerTest,
                 public ::testing::WithParamInterface<std::tuple<LbMode, size_t>> {};

TEST_P(EchoTest, BodyComesBackUnchanged) {
  const auto [mode, size] = GetParam();
  auto lb = runner_->lb(mode);
  ASSERT_TRUE(lb);
  TestCall call;
  call.mode("echo");
  const std::string body = random_bytes(size);

  const client::CallOutcome out = lb->engage(call.json(), body);

  EXPECT_TRUE(committed_ack(out, call.id));
  EXPECT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.grpc_code, 0) << out.grpc_message;
  ASSERT_EQ(out.body.size(), body.size());
  EXPECT_TRUE(out.body == body) << "the echoed body differs from what was sent";
  EXPECT_EQ(out.request_bytes_sent, size);
  EXPECT_TRUE(out.verdict.http_status == 200 && !out.verdict.try_next_runner)
      << "the LB would answer " << out.verdict.http_status;
  EXPECT_TRUE(runner_->wait_ledger_empty(std::chrono::seconds(5)));
}

INSTANTIATE_TEST_SUITE_P(
    AprilAndMay, EchoTest,
    ::testing::Combine(::testing::Values(LbMode::kApril, LbMode::kMay),
                       ::testing::Values(size_t{0}, size_t{5}, size_t{10} << 20)),
    [](const ::testing::TestParamInfo<EchoTest::ParamType>& p) {
      const size_t size = std::get<1>(p.param);
      return std::string(std::get<0>(p.param) == LbMode::kApril ? "April" : "May") + "_" +
             (size >= (1U << 20) ? std::to_string(size >> 20) + "MiB" : std::to_string(size) + "B");
    });

}  // namespace
}  // namespace fnr::e2e
