// Bad input from an LB gets a NACK with a clear reason (call-model.md:
// "never a crash"), reserves nothing, and the runner keeps serving.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

struct BadCall {
  std::string name;
  std::string json;
  std::string reason_mentions;  // the NACK's reason names the problem
};

std::vector<BadCall> bad_calls() {
  std::vector<BadCall> out;
  auto with = [](auto edit) {
    TestCall c;
    c.mode("echo");
    nlohmann::json j = c.to_json();
    edit(j);
    return j.dump();
  };
  out.push_back({"invalid JSON", R"({"id":"bad-json","image":)", "JSON"});
  out.push_back({"not an object", R"(["id","image"])", ""});
  out.push_back({"missing id", with([](nlohmann::json& j) { j.erase("id"); }), "id"});
  out.push_back({"missing image", with([](nlohmann::json& j) { j.erase("image"); }), "image"});
  out.push_back(
      {"memory as a string", with([](nlohmann::json& j) { j["memory"] = "128"; }), "memory"});
  out.push_back({"negative memory", with([](nlohmann::json& j) { j["memory"] = -1; }), "memory"});
  out.push_back({"timeout 0", with([](nlohmann::json& j) { j["timeout"] = 0; }), "timeout"});
  out.push_back({"timeout 301", with([](nlohmann::json& j) { j["timeout"] = 301; }), "timeout"});
  out.push_back({"unknown format", with([](nlohmann::json& j) { j["format"] = "xml"; }), "format"});
  out.push_back({"header name with CR/LF", with([](nlohmann::json& j) {
                   j["headers"]["X-Bad\r\nX-Injected"] = nlohmann::json::array({"v"});
                 }),
                 "header"});
  out.push_back({"header value with CR/LF", with([](nlohmann::json& j) {
                   j["headers"]["X-Bad"] = nlohmann::json::array({"v\r\nX-Injected: 1"});
                 }),
                 "header"});
  return out;
}

using BadInputTest = RunnerTest;

TEST_F(BadInputTest, InvalidCallsAreNackedWithAReason) {
  auto april = runner_->lb(LbMode::kApril);
  auto may = runner_->lb(LbMode::kMay);
  for (const BadCall& bad : bad_calls()) {
    SCOPED_TRACE(bad.name + ": " + bad.json);
    const client::CallOutcome a = april->engage(bad.json, "body");
    EXPECT_TRUE(nacked(a));
    EXPECT_TRUE(a.verdict.try_next_runner) << describe(a);
    EXPECT_NE(a.ack_details.find(bad.reason_mentions), std::string::npos) << describe(a);
    const client::CallOutcome m = may->engage(bad.json, "body");
    EXPECT_EQ(m.grpc_code, 503) << describe(m);
    EXPECT_FALSE(m.finished_success);
    const LedgerSnapshot l = runner_->ledger();
    EXPECT_EQ(l.reserved_mib, 0U);
    EXPECT_TRUE(l.entries.empty());
  }

  // Still serving.
  TestCall good;
  good.mode("echo");
  const client::CallOutcome ok = april->engage(good.json(), "fine");
  EXPECT_TRUE(finished_ok(ok, good.id));
  EXPECT_EQ(ok.body, "fine");
}

TEST_F(BadInputTest, DataBeforeTryEndsTheStream) {
  auto stub = runner_->stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
  auto stream = stub->Engage(&ctx);
  ClientMsg data;
  data.mutable_data()->set_data("no try first");
  data.mutable_data()->set_eof(true);
  ASSERT_TRUE(stream->Write(data));
  stream->WritesDone();
  RunnerMsg msg;
  while (stream->Read(&msg)) {
    EXPECT_NE(msg.body_case(), RunnerMsg::kResultStart);
    EXPECT_NE(msg.body_case(), RunnerMsg::kData);
    if (msg.body_case() == RunnerMsg::kAcknowledged) {
      EXPECT_FALSE(msg.acknowledged().committed());
    }
    if (msg.body_case() == RunnerMsg::kFinished) {
      EXPECT_FALSE(msg.finished().success());
    }
  }
  const grpc::Status st = stream->Finish();
  EXPECT_FALSE(st.ok()) << "a stream without a try ended OK";
  EXPECT_NE(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "the runner never answered";
  EXPECT_EQ(runner_->ledger().reserved_mib, 0U);
  EXPECT_TRUE(runner_->ledger().entries.empty());

  // A stream closed without sending anything at all.
  {
    grpc::ClientContext empty_ctx;
    empty_ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
    auto empty = stub->Engage(&empty_ctx);
    empty->WritesDone();
    while (empty->Read(&msg)) {
      EXPECT_NE(msg.body_case(), RunnerMsg::kResultStart);
    }
    const grpc::Status est = empty->Finish();
    EXPECT_FALSE(est.ok());
    EXPECT_NE(est.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "the runner never answered";
  }

  auto lb = runner_->lb(LbMode::kMay);
  TestCall good;
  good.mode("echo");
  const client::CallOutcome ok = lb->engage(good.json(), "fine");
  EXPECT_TRUE(finished_ok(ok, good.id));
  EXPECT_EQ(ok.body, "fine");
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
}

}  // namespace
}  // namespace fnr::e2e
