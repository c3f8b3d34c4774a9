// Call JSON captured from the real LBs, sent verbatim. Their image
// fnproject/hello:0.0.1 is fn-test-func here; their config sets no
// TEST_MODE, so it echoes.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(FNR_SOURCE_DIR) + "/tests/fixtures/" + name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string id_of(const std::string& json) {
  return nlohmann::json::parse(json).at("id").get<std::string>();
}

class FixturesTest : public RunnerTest {
 protected:
  void SetUp() override {
    RunnerTest::SetUp();
    if (runner_) runner_->add_image("fnproject/hello:0.0.1");
  }
};

TEST_F(FixturesTest, April2018PostEchoes) {
  const std::string json = fixture("call-apr2018-post.json");
  ASSERT_FALSE(json.empty());
  auto lb = runner_->lb(LbMode::kApril);
  const std::string body = R"({"name":"Bob"})"
                           "\n\n";
  const client::CallOutcome out = lb->engage(json, body);
  EXPECT_TRUE(committed_ack(out, id_of(json)));
  EXPECT_TRUE(finished_ok(out, id_of(json)));
  EXPECT_EQ(out.body, body);
}

TEST_F(FixturesTest, May2018Echoes) {
  const std::string json = fixture("call-may2018.json");
  ASSERT_FALSE(json.empty());
  auto lb = runner_->lb(LbMode::kMay);
  const client::CallOutcome out = lb->engage(json, "hello");
  EXPECT_TRUE(finished_ok(out, id_of(json)));
  EXPECT_EQ(out.body, "hello");
  EXPECT_EQ(out.verdict.http_status, 200) << describe(out);
}

// Current Fn's calls carry no format, meaning http-stream, which this
// runner does not speak yet: they must fail clearly and promptly (a 502
// finish or a NACK), not hang or take the runner down.
TEST_F(FixturesTest, CurrentFnCallsFailClearly) {
  for (const char* name : {"call-current-trigger.json", "call-current-invoke.json"}) {
    SCOPED_TRACE(name);
    const std::string json = fixture(name);
    ASSERT_FALSE(json.empty());
    auto lb = runner_->lb(LbMode::kMay);
    client::CallOptions o;
    o.deadline = std::chrono::seconds(20);
    const client::CallOutcome out = lb->engage(json, "hello", o);
    EXPECT_NE(out.grpc_code, static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED))
        << "hung: " << describe(out);
    EXPECT_FALSE(out.finished_success) << describe(out);
    const bool failed_502 = out.finished && out.error_code == 502 &&
                            out.details.rfind("502:", 0) == 0 && out.grpc_code == 0;
    const bool nack = out.grpc_code == 503;
    EXPECT_TRUE(failed_502 || nack) << describe(out);
    EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
  }
  const client::RunnerStatusReply s = runner_->status();
  EXPECT_TRUE(s.ok) << "runner gone after current-Fn calls: " << s.grpc_message;
}

}  // namespace
}  // namespace fnr::e2e
