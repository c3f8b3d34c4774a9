// grpc_threads: the supervisor serves gRPC from that many threads, each
// polling its own completion queue, and calls spread over them still end
// well, each with its own answer.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

constexpr int kThreads = 3;
constexpr int kClients = 12;
constexpr int kCallsEach = 5;

// Threads of `pid` named `name` (/proc/PID/task/*/comm).
int threads_named(pid_t pid, const std::string& name) {
  int n = 0;
  for (const pid_t tid : threads_of(pid)) {
    std::ifstream comm("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
    std::string line;
    if (std::getline(comm, line) && line == name) ++n;
  }
  return n;
}

class GrpcThreadsTest : public RunnerTest {
 protected:
  RunnerOptions runner_options() override {
    RunnerOptions o;
    o.extra_args = {"--grpc-threads=" + std::to_string(kThreads)};
    return o;
  }
};

TEST_F(GrpcThreadsTest, CallsSpreadOverTheThreadsAllEndWell) {
  EXPECT_EQ(threads_named(runner_->pid(), "grpc-cq"), kThreads);

  auto lb = runner_->lb(LbMode::kMay);
  std::vector<std::vector<std::string>> failures(kClients);
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kCallsEach; ++i) {
        TestCall call;
        call.mode("echo");
        const std::string body = "client " + std::to_string(c) + " call " + std::to_string(i);
        const client::CallOutcome out = lb->engage(call.json(), body);
        if (!finished_ok(out, call.id)) {
          failures[c].push_back(call.id + ": " + describe(out));
        } else if (out.body != body) {
          failures[c].push_back(call.id + ": answered '" + out.body + "'");
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  for (const auto& f : failures) {
    for (const std::string& what : f) ADD_FAILURE() << what;
  }
  EXPECT_TRUE(wait_until([&] { return runner_->status().active == 0; }, seconds(5)));
  EXPECT_EQ(runner_->status().requests_handled, uint64_t{kClients} * kCallsEach);
}

}  // namespace
}  // namespace fnr::e2e
