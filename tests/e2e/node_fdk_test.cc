// Real functions written with the official Node FDK (@fnproject/fdk, pinned
// by tests/node/package-lock.json) in real OCI images (node, its shared
// libraries and the FDK: tests/support/node_image.h), run by the real
// runner in its sandbox over the http-stream contract
// (function-contract.md): echo, headers both ways, a handler that throws
// (502, container kept), one that returns undefined (node dies: 502, the
// container is replaced), one that sleeps past the deadline (504, replaced),
// and a thousand calls on one hot container.
//
// The handlers count the calls their process has served, which is how the
// tests tell a kept container (the count goes on) from a replaced one (it
// starts again at 1).
#include <gtest/gtest.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/node_image.h"

namespace fnr::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

test_support::NodeImageSource node_source() {
  return {std::string(FNR_SOURCE_DIR) + "/tests/node", std::string(FNR_BIN_DIR) + "/node-fdk"};
}

double ms_of(std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; }

class NodeFdkTest : public RunnerTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: the runner's sandbox needs root";
    const std::string why = test_support::node_image_unavailable(node_source());
    if (!why.empty()) GTEST_SKIP() << "SKIPPED LOUDLY: no Node FDK images: " << why;
    RunnerTest::SetUp();
  }
  void TearDown() override {
    lb_.reset();
    RunnerTest::TearDown();
  }

  // tests/node/<handler>.js as the image e2e/node-<handler>:1.
  std::string image(const std::string& handler) {
    std::string ref = "e2e/node-" + handler + ":1";
    const auto start = std::chrono::steady_clock::now();
    test_support::import_node_image(runner_->images_dir(), ref, node_source(), handler);
    std::cout << "[ node     ] image " << ref << " ready in "
              << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start)
                     .count()
              << " ms\n";
    return ref;
  }

  static TestCall node_call(const std::string& image_ref, int timeout_s = 30) {
    TestCall call;
    call.image = image_ref;
    call.format = "http-stream";
    call.memory_mib = 128;
    call.timeout_s = timeout_s;
    return call;
  }

  // One call; `with_format` false sends no format field, as current Fn
  // LBs do (the runner then speaks http-stream).
  client::CallOutcome engage(const TestCall& call, const client::BodySource& body = {},
                             bool with_format = true) {
    nlohmann::json j = call.to_json();
    if (!with_format) j.erase("format");
    return lb().engage(j.dump(), body);
  }

  // The call with a fresh id each time (the slot key stays the same).
  client::CallOutcome again(TestCall& call, const client::BodySource& body = {}) {
    call.id = new_call_id();
    return engage(call, body);
  }

  client::LbClient& lb() {
    if (!lb_) lb_ = runner_->lb();
    return *lb_;
  }

  // The worker holding the only container in the ledger; 0 if there is
  // not exactly one.
  pid_t only_container_worker() const {
    const LedgerSnapshot snap = runner_->ledger();
    return snap.entries.size() == 1 ? snap.entries.front().owner_pid : 0;
  }

  static std::string header(const client::CallOutcome& out, const std::string& name) {
    std::string values;
    for (const auto& [k, v] : out.headers) {
      if (strcasecmp(k.c_str(), name.c_str()) == 0) values += (values.empty() ? "" : ", ") + v;
    }
    return values;
  }

  std::unique_ptr<client::LbClient> lb_;
};

TEST_F(NodeFdkTest, EchoIsBinarySafeInBufferMode) {
  const std::string ref = image("echo");
  TestCall call = node_call(ref);

  // "hello" comes back as hello, not as the JSON string "hello".
  client::CallOutcome out = engage(call, "hello");
  ASSERT_TRUE(finished_ok(out, call.id)) << "runner log:\n" << runner_->log();
  EXPECT_EQ(out.body, "hello");
  EXPECT_EQ(header(out, "Content-Type"), "application/octet-stream");
  std::cout << "[ node     ] cold start (Try to finished, sandbox + node + FDK): "
            << ms_of(out.to_finished) << " ms\n";

  // Every byte value, and more than one frame's worth, on the hot container.
  for (size_t size : {size_t{1}, size_t{256}, size_t{300} << 10}) {
    const std::string body = random_bytes(size);
    out = again(call, body);
    ASSERT_TRUE(finished_ok(out, call.id));
    ASSERT_EQ(out.body.size(), body.size());
    EXPECT_TRUE(out.body == body) << "the echoed " << size << " bytes differ";
  }
  // An empty body.
  out = again(call, "");
  EXPECT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "");

  std::vector<double> hot;
  for (int i = 0; i < 50; ++i) {
    out = again(call, "x");
    ASSERT_TRUE(finished_ok(out, call.id));
    hot.push_back(ms_of(out.latency));
  }
  std::sort(hot.begin(), hot.end());
  std::cout << "[ node     ] hot call (Try to stream end), median of 50: " << hot[hot.size() / 2]
            << " ms, p90 " << hot[hot.size() * 9 / 10] << " ms\n";
  EXPECT_EQ(runner_->ledger().entries.size(), 1U) << "the echo calls should share one container";
}

TEST_F(NodeFdkTest, EchoWithoutAFormatFieldAsCurrentLbsSendIt) {
  const std::string ref = image("echo");
  TestCall call = node_call(ref);
  const std::string body = random_bytes(4096);
  for (int i = 0; i < 2; ++i) {
    call.id = new_call_id();
    const client::CallOutcome out = engage(call, body, /*with_format=*/false);
    ASSERT_TRUE(finished_ok(out, call.id)) << "runner log:\n" << runner_->log();
    EXPECT_TRUE(out.body == body) << "the echoed body differs";
  }
  EXPECT_EQ(runner_->ledger().entries.size(), 1U) << "the second call should reuse the container";
}

TEST_F(NodeFdkTest, HeadersGoInAndComeOut) {
  const std::string ref = image("headers");
  TestCall call = node_call(ref);
  call.headers["X-Test-In"] = {"hello-header"};
  call.headers["X-Test-Multi"] = {"a", "b"};
  call.headers["Content-Type"] = {"text/plain"};
  call.config["NODE_TEST_CONFIG"] = "from-config";

  const client::CallOutcome out = engage(call, "body", /*with_format=*/false);
  ASSERT_TRUE(finished_ok(out, call.id)) << "runner log:\n" << runner_->log();
  nlohmann::json seen;
  ASSERT_NO_THROW(seen = nlohmann::json::parse(out.body)) << out.body;

  // What the function saw.
  EXPECT_EQ(seen["in"], "hello-header") << seen.dump();
  EXPECT_EQ(seen["multi"], nlohmann::json::array({"a", "b"})) << seen.dump();
  EXPECT_EQ(seen["contentType"], "text/plain") << seen.dump();
  EXPECT_EQ(seen["callId"], call.id) << seen.dump();
  ASSERT_TRUE(seen["deadline"].is_string()) << seen.dump();
  EXPECT_NE(seen["deadline"].get<std::string>().find('T'), std::string::npos) << seen.dump();
  EXPECT_EQ(seen["format"], "http-stream");
  EXPECT_EQ(seen["listener"], "unix:/tmp/iofs/lsnr.sock");
  EXPECT_EQ(seen["appId"], "e2e-app");
  EXPECT_EQ(seen["config"], "from-config");

  // What the LB got back: the function's headers, minus hop-by-hop ones.
  EXPECT_EQ(header(out, "X-Test-Out"), "out-hello-header") << describe(out);
  EXPECT_EQ(header(out, "X-Test-Multi-Out"), "one, two") << describe(out);
  EXPECT_EQ(header(out, "Content-Type"), "application/json") << describe(out);
  EXPECT_EQ(header(out, "Fn-Fdk-Version").rfind("fdk-node/0.0.76", 0), 0U) << describe(out);
  EXPECT_EQ(header(out, "Connection"), "") << describe(out);
  EXPECT_EQ(header(out, "Transfer-Encoding"), "") << describe(out);
}

TEST_F(NodeFdkTest, ThrowingHandlerFails502AndKeepsTheContainer) {
  const std::string ref = image("throws");
  TestCall call = node_call(ref);

  client::CallOutcome out = engage(call, "ok");
  ASSERT_TRUE(finished_ok(out, call.id)) << "runner log:\n" << runner_->log();
  EXPECT_EQ(out.body, "1");
  const pid_t worker = only_container_worker();
  EXPECT_NE(worker, 0);

  out = again(call, "throw");
  EXPECT_TRUE(failed_with(out, 502, "502:function failed")) << "runner log:\n" << runner_->log();
  // The FDK's JSON message is passed on.
  EXPECT_NE(out.body.find("Exception in function"), std::string::npos) << out.body;

  // The same node process serves the next call: its third.
  out = again(call, "ok");
  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "3") << "the container was not kept after a 502";
  EXPECT_EQ(only_container_worker(), worker);
  ASSERT_EQ(runner_->ledger().entries.size(), 1U);
  EXPECT_EQ(runner_->ledger().entries.front().calls, 3U);
}

TEST_F(NodeFdkTest, UndefinedResultCrashesNodeAndTheContainerIsReplaced) {
  const std::string ref = image("undefined");
  TestCall call = node_call(ref);
  call.config["MARKER"] = "node-undefined-" + call.id;  // finds the node process

  client::CallOutcome out = engage(call, "ok");
  ASSERT_TRUE(finished_ok(out, call.id)) << "runner log:\n" << runner_->log();
  EXPECT_EQ(out.body, "1");
  const std::vector<pid_t> first = processes_with_env("MARKER=" + call.config["MARKER"]);
  ASSERT_EQ(first.size(), 1U) << "expected one node process";
  const PidWatch first_node(first.front());

  out = again(call, "undefined");
  EXPECT_TRUE(failed_with(out, 502, "502:error receiving function response")) << "runner log:\n"
                                                                              << runner_->log();
  EXPECT_TRUE(first_node.wait_exit(seconds(5))) << "the crashed node process is still there";

  // A new node process serves the next call: its first.
  out = again(call, "ok");
  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "1") << "the next call was not served by a new container";
  EXPECT_EQ(runner_->ledger().entries.size(), 1U);
}

TEST_F(NodeFdkTest, SleepingPastTheDeadlineTimesOut504AndTheContainerIsReplaced) {
  const std::string ref = image("sleep");
  TestCall call = node_call(ref, /*timeout_s=*/2);
  call.config["MARKER"] = "node-sleep-" + call.id;

  client::CallOutcome out = engage(call, "0");
  ASSERT_TRUE(finished_ok(out, call.id)) << "runner log:\n" << runner_->log();
  EXPECT_EQ(out.body, "1");
  const std::vector<pid_t> first = processes_with_env("MARKER=" + call.config["MARKER"]);
  ASSERT_EQ(first.size(), 1U) << "expected one node process";
  const PidWatch first_node(first.front());

  out = again(call, "60000");
  EXPECT_TRUE(failed_with(out, 504, "504:Timed out")) << "runner log:\n" << runner_->log();
  EXPECT_GE(out.latency, milliseconds(1900));
  EXPECT_LT(out.latency, milliseconds(6000)) << "the deadline was not enforced promptly";
  EXPECT_TRUE(first_node.wait_exit(seconds(5))) << "the timed-out node process is still there";

  out = again(call, "0");
  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "1") << "the next call was not served by a new container";
}

TEST_F(NodeFdkTest, AThousandSequentialCallsOnOneContainer) {
  const std::string ref = image("count");
  TestCall call = node_call(ref);
  constexpr int kCalls = 1000;
  pid_t worker = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= kCalls; ++i) {
    const client::CallOutcome out = again(call, "x");
    ASSERT_TRUE(finished_ok(out, call.id)) << "call " << i << "\nrunner log:\n" << runner_->log();
    ASSERT_EQ(out.body, std::to_string(i)) << "call " << i << " was not served by the first node";
    if (i == 1) worker = only_container_worker();
  }
  const auto elapsed =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  std::cout << "[ node     ] " << kCalls << " sequential calls in " << elapsed.count()
            << " ms (cold start included)\n";
  EXPECT_NE(worker, 0);
  EXPECT_EQ(only_container_worker(), worker);
  ASSERT_EQ(runner_->ledger().entries.size(), 1U);
  EXPECT_EQ(runner_->ledger().entries.front().calls, static_cast<uint32_t>(kCalls));
}

}  // namespace
}  // namespace fnr::e2e
