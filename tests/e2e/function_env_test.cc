// The environment a `default`-format function sees (function-contract.md):
// the call's config, FN_CALL_ID, FN_DEADLINE, FN_METHOD, FN_REQUEST_URL,
// FN_HEADER_<Name> per request header, FN_MEMORY.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;

std::map<std::string, std::string> parse_env(const std::string& text) {
  std::map<std::string, std::string> env;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

using FunctionEnvTest = RunnerTest;

TEST_F(FunctionEnvTest, DefaultFormatEnvironment) {
  auto lb = runner_->lb(LbMode::kApril);
  TestCall call;
  call.mode("env");
  call.config["APP_CFG"] = "a1";
  call.headers["X-Custom"] = {"c1"};
  call.method = "PUT";
  call.url = "http://127.0.0.1:8080/r/e2e/env?q=1";
  call.memory_mib = 64;

  const client::CallOutcome out = lb->engage(call.json(), "");
  ASSERT_TRUE(finished_ok(out, call.id));
  const auto env = parse_env(out.body);
  auto has = [&](const std::string& key) { return env.count(key) != 0; };

  ASSERT_TRUE(has("FN_CALL_ID")) << out.body;
  EXPECT_EQ(env.at("FN_CALL_ID"), call.id);
  ASSERT_TRUE(has("FN_DEADLINE")) << out.body;
  EXPECT_TRUE(std::regex_match(env.at("FN_DEADLINE"),
                               std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)")))
      << "FN_DEADLINE is not RFC 3339: " << env.at("FN_DEADLINE");
  ASSERT_TRUE(has("FN_METHOD")) << out.body;
  EXPECT_EQ(env.at("FN_METHOD"), "PUT");
  ASSERT_TRUE(has("FN_REQUEST_URL")) << out.body;
  EXPECT_EQ(env.at("FN_REQUEST_URL"), call.url);
  ASSERT_TRUE(has("FN_HEADER_X_Custom")) << out.body;
  EXPECT_EQ(env.at("FN_HEADER_X_Custom"), "c1");
  ASSERT_TRUE(has("APP_CFG")) << out.body;
  EXPECT_EQ(env.at("APP_CFG"), "a1");
  ASSERT_TRUE(has("FN_MEMORY")) << out.body;
  EXPECT_EQ(env.at("FN_MEMORY"), "64");
  EXPECT_EQ(env.at("TEST_MODE"), "env");
  // The runner's own plumbing is not the function's business.
  for (const auto& [key, value] : env) {
    EXPECT_NE(key.rfind("FNR_", 0), 0U) << "runner internals leak into the function: " << key;
  }
}

}  // namespace
}  // namespace fnr::e2e
