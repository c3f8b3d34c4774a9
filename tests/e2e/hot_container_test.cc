// Hot containers (function-contract.md, "Hot containers"), seen from outside
// the runner: concurrent calls grow the pool up to the memory capacity and
// the next one is NACKed; idle containers keep their capacity reserved
// (state idle in the ledger) and serve the next call with the same slot
// key; the idle timeout reaps them (the worker and the function are gone,
// nothing reserved); a call that does not fit evicts an idle container of
// another function rather than being NACKed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/e2e/background_call.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/test_images.h"

namespace fnr::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint32_t kContainerMib = 128;

// The functions are fn-test-hsfunc (tests/functions/http_stream_func.cc), a
// static native http-stream function, so that these tests stay fast and
// need no Node: HS_MODE=count answers how many calls its process has
// served, HS_MODE=sleep sleeps HS_SLEEP_MS before answering.
class HotContainerTest : public RunnerTest {
 protected:
  static constexpr const char* kImage = "e2e/hot-hsfunc:1";

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: the runner's sandbox needs root";
    const std::string function = std::string(FNR_BIN_DIR) + "/fn-test-hsfunc";
    ASSERT_EQ(access(function.c_str(), X_OK), 0)
        << function << " is not built (CMake target fn-test-hsfunc, "
        << "tests/functions/http_stream_func.cc)";
    RunnerTest::SetUp();
    test_support::import_binary_image(runner_->images_dir(), kImage, function);
  }

  RunnerOptions runner_options() override {
    RunnerOptions o;
    o.max_total_memory_bytes = static_cast<uint64_t>(capacity_containers()) * kContainerMib << 20;
    return o;
  }
  virtual int capacity_containers() { return 3; }

  // The call JSON of function `fn` (its config makes its slot key): it
  // counts, or sleeps `sleep_ms` per call when that is not 0.
  static std::string call_json(const std::string& id, const std::string& fn,
                               uint32_t idle_timeout_s = 30, int sleep_ms = 0) {
    TestCall call;
    call.id = id;
    call.image = kImage;
    call.format = "http-stream";
    call.memory_mib = kContainerMib;
    call.config["HS_MODE"] = sleep_ms > 0 ? "sleep" : "count";
    if (sleep_ms > 0) call.config["HS_SLEEP_MS"] = std::to_string(sleep_ms);
    call.config["MARKER"] = marker(fn);
    nlohmann::json j = call.to_json();
    j["idle_timeout"] = idle_timeout_s;
    return j.dump();
  }
  // In the function's environment: finds its processes on the host.
  static std::string marker(const std::string& fn) {
    return "hot-" + std::to_string(getpid()) + "-" + fn;
  }
  std::vector<pid_t> function_processes(const std::string& fn) const {
    return processes_with_env("MARKER=" + marker(fn));
  }

  std::vector<ReservationView> entries_in(ReservationState state) const {
    std::vector<ReservationView> out;
    for (const ReservationView& e : runner_->ledger().entries) {
      if (e.state == state) out.push_back(e);
    }
    return out;
  }
  bool wait_entries(ReservationState state, size_t n, milliseconds timeout) const {
    return wait_until([&] { return entries_in(state).size() == n; }, timeout);
  }
};

TEST_F(HotContainerTest, ConcurrentCallsGrowThePoolToCapacityThenNack) {
  auto lb = runner_->lb();
  ASSERT_EQ(runner_->ledger().total_mib, 3 * kContainerMib);
  constexpr int kSleepMs = 1000;
  const auto json = [](const std::string& id) { return call_json(id, "a", 30, kSleepMs); };

  // Three long calls at once: three containers, all the capacity.
  std::vector<std::string> ids;
  std::vector<std::unique_ptr<BackgroundCall>> calls;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(new_call_id());
    calls.push_back(std::make_unique<BackgroundCall>(*lb, json(ids.back()), "long"));
  }
  ASSERT_TRUE(wait_entries(ReservationState::kRunning, 3, seconds(10)))
      << "three calls should run at once\nrunner log:\n"
      << runner_->log();
  EXPECT_EQ(runner_->ledger().reserved_mib, 3 * kContainerMib);

  // A fourth finds no idle container and no capacity: NACK.
  const client::CallOutcome fourth = lb->engage(json(new_call_id()), "fourth");
  EXPECT_TRUE(nacked(fourth));
  EXPECT_TRUE(fourth.verdict.try_next_runner) << describe(fourth);
  EXPECT_EQ(entries_in(ReservationState::kRunning).size(), 3U)
      << "the NACK must not disturb the running calls";

  for (size_t i = 0; i < calls.size(); ++i) {
    const client::CallOutcome& out = calls[i]->wait();
    EXPECT_TRUE(finished_ok(out, ids[i])) << "runner log:\n" << runner_->log();
    EXPECT_EQ(out.body, "long");
  }

  // All three go idle, each having served one call, and keep their
  // capacity reserved.
  ASSERT_TRUE(wait_entries(ReservationState::kIdle, 3, seconds(5)))
      << "the three containers should be idle";
  EXPECT_EQ(runner_->ledger().reserved_mib, 3 * kContainerMib);
  std::vector<pid_t> workers;
  for (const ReservationView& e : entries_in(ReservationState::kIdle)) {
    EXPECT_EQ(e.mib, kContainerMib);
    EXPECT_EQ(e.calls, 1U) << "each long call should have had a container of its own";
    workers.push_back(e.owner_pid);
  }
  EXPECT_EQ(function_processes("a").size(), 3U);

  // The next call with that slot key runs on one of them: no NACK, no new
  // container, and that container's second call.
  const std::string next_id = new_call_id();
  const client::CallOutcome next = lb->engage(json(next_id), "next");
  EXPECT_TRUE(finished_ok(next, next_id)) << "runner log:\n" << runner_->log();
  ASSERT_TRUE(wait_entries(ReservationState::kIdle, 3, seconds(5)));
  std::vector<pid_t> after;
  uint32_t calls_served = 0;
  for (const ReservationView& e : entries_in(ReservationState::kIdle)) {
    after.push_back(e.owner_pid);
    calls_served += e.calls;
  }
  EXPECT_EQ(calls_served, 4U);
  std::sort(workers.begin(), workers.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, workers) << "the idle containers should be the same three";
}

TEST_F(HotContainerTest, IdleTimeoutReapsTheContainer) {
  auto lb = runner_->lb();
  const std::string id = new_call_id();
  const client::CallOutcome out = lb->engage(call_json(id, "idle", /*idle_timeout_s=*/1));
  ASSERT_TRUE(finished_ok(out, id)) << "runner log:\n" << runner_->log();
  const auto finished_at = std::chrono::steady_clock::now();

  // Idle: still reserved, worker and function alive.
  ASSERT_TRUE(wait_entries(ReservationState::kIdle, 1, milliseconds(900)))
      << "the container should be idle after its call";
  const std::vector<ReservationView> idle = entries_in(ReservationState::kIdle);
  ASSERT_EQ(idle.size(), 1U) << "the container should be idle after its call";
  EXPECT_EQ(idle.front().mib, kContainerMib);
  const PidWatch worker(idle.front().owner_pid);
  ASSERT_TRUE(worker.opened());
  const std::vector<pid_t> fn = function_processes("idle");
  ASSERT_EQ(fn.size(), 1U);
  const PidWatch function(fn.front());
  EXPECT_FALSE(worker.exited());

  // After the idle timeout: the worker and the function are gone, nothing
  // is reserved.
  EXPECT_TRUE(worker.wait_exit(seconds(5))) << "the idle worker was not reaped\n" << runner_->log();
  EXPECT_GE(std::chrono::steady_clock::now() - finished_at, milliseconds(900))
      << "reaped before its idle timeout";
  EXPECT_TRUE(function.wait_exit(seconds(5))) << "the function outlived its container";
  EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
  EXPECT_TRUE(function_processes("idle").empty());
}

class HotContainerEvictionTest : public HotContainerTest {
 protected:
  int capacity_containers() override { return 1; }
};

TEST_F(HotContainerEvictionTest, AnotherFunctionEvictsTheIdleContainer) {
  auto lb = runner_->lb();
  ASSERT_EQ(runner_->ledger().total_mib, kContainerMib);

  const std::string a_id = new_call_id();
  client::CallOutcome out = lb->engage(call_json(a_id, "a"));
  ASSERT_TRUE(finished_ok(out, a_id)) << "runner log:\n" << runner_->log();
  EXPECT_EQ(out.body, "1");
  ASSERT_TRUE(wait_entries(ReservationState::kIdle, 1, seconds(5)));
  const std::vector<ReservationView> idle = entries_in(ReservationState::kIdle);
  ASSERT_EQ(idle.size(), 1U);
  const PidWatch a_worker(idle.front().owner_pid);
  ASSERT_EQ(function_processes("a").size(), 1U);
  const PidWatch a_function(function_processes("a").front());

  // B (another config: another slot key) needs the only capacity there is:
  // A's idle container makes room instead of B being NACKed.
  const std::string b_id = new_call_id();
  out = lb->engage(call_json(b_id, "b"));
  EXPECT_TRUE(finished_ok(out, b_id)) << "runner log:\n" << runner_->log();
  EXPECT_EQ(out.body, "1");
  EXPECT_TRUE(a_worker.wait_exit(seconds(5))) << "A's worker survived its eviction";
  EXPECT_TRUE(a_function.wait_exit(seconds(5))) << "A's function survived its eviction";
  ASSERT_TRUE(wait_entries(ReservationState::kIdle, 1, seconds(5)));
  EXPECT_EQ(runner_->ledger().entries.size(), 1U);
  EXPECT_NE(entries_in(ReservationState::kIdle).front().owner_pid, a_worker.pid());
  EXPECT_EQ(runner_->ledger().reserved_mib, kContainerMib);

  // A again: B makes room, and A starts from scratch.
  const std::string a2_id = new_call_id();
  out = lb->engage(call_json(a2_id, "a"));
  EXPECT_TRUE(finished_ok(out, a2_id));
  EXPECT_EQ(out.body, "1") << "A's container should have been a new one";
}

}  // namespace
}  // namespace fnr::e2e
