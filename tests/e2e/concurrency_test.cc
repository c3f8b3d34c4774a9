// Many calls at once on one connection (as an LB multiplexes them): every
// caller gets exactly its own body back, and afterwards nothing is held.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

constexpr int kCalls = 200;
constexpr int kCallMib = 64;

class ConcurrencyTest : public RunnerTest {
 protected:
  RunnerOptions runner_options() override {
    RunnerOptions o;
    // Room for all of them at once: no NACK may hide a mix-up.
    o.max_total_memory_bytes = static_cast<uint64_t>(kCalls) * kCallMib << 20;
    return o;
  }
};

std::string body_for(int i) {
  std::string unit = "<call " + std::to_string(i) + ">";
  std::string body;
  // Distinct lengths too, 1 to 4 KiB.
  while (body.size() < 1024 + static_cast<size_t>(i) * 15) body += unit;
  return body;
}

TEST_F(ConcurrencyTest, TwoHundredCallsEachGetTheirOwnBody) {
  auto lb = runner_->lb(LbMode::kMay);  // one channel, one HTTP/2 connection
  ASSERT_TRUE(lb);
  std::vector<TestCall> calls(kCalls);
  std::vector<client::CallOutcome> outs(kCalls);
  std::vector<std::thread> threads;
  threads.reserve(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    calls[i].mode("echo");
    calls[i].memory_mib = kCallMib;
    threads.emplace_back([&, i] { outs[i] = lb->engage(calls[i].json(), body_for(i)); });
  }
  for (auto& t : threads) t.join();

  int good = 0;
  for (int i = 0; i < kCalls; ++i) {
    SCOPED_TRACE("call " + std::to_string(i));
    const bool ok = finished_ok(outs[i], calls[i].id) && outs[i].body == body_for(i);
    EXPECT_TRUE(finished_ok(outs[i], calls[i].id));
    EXPECT_EQ(outs[i].body.size(), body_for(i).size());
    EXPECT_TRUE(outs[i].body == body_for(i))
        << "got someone else's body? starts with " << outs[i].body.substr(0, 16);
    good += ok ? 1 : 0;
  }
  EXPECT_EQ(good, kCalls);

  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(10)));
  EXPECT_TRUE(wait_until([&] { return runner_->status().active == 0; }, seconds(10)))
      << "active " << runner_->status().active;
  const client::RunnerStatusReply s = runner_->status();
  EXPECT_EQ(s.requests_received, static_cast<uint64_t>(kCalls));
  EXPECT_EQ(s.requests_handled, static_cast<uint64_t>(kCalls));
}

}  // namespace
}  // namespace fnr::e2e
