#pragma once
// The real fn-runner as the chaos and soak programs run it: the end-to-end
// harness (tests/e2e/runner_harness.h) with the sandbox on, a runtime dir of
// its own (so leftover socket dirs are ours to see), and the four test
// functions imported as images, one per call format. Calls carry a marker
// in their config, which lands in every function's environment, so a
// function process that outlives its call can be found on the host.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "client/lb_client.h"
#include "tests/e2e/runner_harness.h"

namespace fnr::chaos {

struct ChaosRunnerOptions {
  std::optional<uint64_t> capacity_bytes;  // nullopt: the runner detects it
  uint32_t drain_timeout_s = 10;
};

class ChaosRunner {
 public:
  explicit ChaosRunner(const ChaosRunnerOptions& options);
  ~ChaosRunner();
  ChaosRunner(const ChaosRunner&) = delete;
  ChaosRunner& operator=(const ChaosRunner&) = delete;

  // Starts the runner and imports the images; false with `error` set.
  bool start(std::string* error);
  e2e::RunnerHarness& harness() { return *harness_; }
  [[nodiscard]] pid_t pid() const { return harness_->pid(); }

  // sandbox.runtime_dir as configured, and the instance's own part of it
  // (<runtime_dir>/<ledger name>: one scratch dir per container).
  [[nodiscard]] const std::string& runtime_root() const { return runtime_root_; }
  [[nodiscard]] std::string instance_runtime_dir() const;
  // The instance's cgroup directories (<own>/fn-runner/<ledger name>, one
  // per v1 controller or the one v2 directory), found from the supervisor's
  // /proc/<pid>/cgroup once it runs.
  [[nodiscard]] const std::vector<std::string>& cgroup_bases() const { return cgroup_bases_; }
  // "CHAOS_MARKER=<value>": in every function's environment.
  [[nodiscard]] std::string marker_env() const { return "CHAOS_MARKER=" + marker_; }
  [[nodiscard]] const std::string& marker() const { return marker_; }
  // "FNR_PARENT_PID=<supervisor>": in the environment of every worker the
  // supervisor spawns (and of the container inits cloned from them).
  [[nodiscard]] std::string worker_env() const { return worker_env_; }
  [[nodiscard]] uint32_t spare_workers() const { return 2; }  // the runner's default

 private:
  std::unique_ptr<e2e::RunnerHarness> harness_;
  std::string scratch_;
  std::string runtime_root_;
  std::string marker_;
  std::vector<std::string> cgroup_bases_;
  std::string worker_env_;
};

enum class Format { kDefault, kHttpStream, kHttp, kJson };
inline constexpr Format kAllFormats[] = {Format::kDefault, Format::kHttpStream, Format::kHttp,
                                         Format::kJson};
[[nodiscard]] const char* format_name(Format f);

struct CallPlan {
  Format format = Format::kDefault;
  std::string id;
  std::string json;
  std::string body;
  int sleep_ms = 0;
};

// One call to the echo function of `format`: it sleeps `sleep_ms` first
// (0: none), then answers the body back. `slot` picks one of several slot
// keys (different config), so hot containers of several keys coexist.
[[nodiscard]] CallPlan make_call(Format format, const std::string& marker, int slot, int sleep_ms,
                                 std::string body, uint32_t idle_timeout_s, int timeout_s,
                                 uint32_t memory_mib);

// `n` printable bytes (the json format carries the body as a JSON string).
[[nodiscard]] std::string text_body(std::mt19937_64& rng, size_t n);

// How a call ended, as the LB saw it, judged against runner-protocol.md.
enum class Ending {
  kOk,         // finished success, body echoed
  kFailed,     // committed, finished{success=false, "<code>:..."}, stream OK
  kNacked,     // ack(committed=false), then gRPC 503
  kCancelled,  // we cancelled it and the stream ended CANCELLED
  kHung,       // the runner's own 504 timeout, or our deadline: it did not end by itself
  kMalformed,  // anything else: a protocol deviation, an error status without finished, ...
};
[[nodiscard]] const char* ending_name(Ending e);

struct Judgement {
  Ending ending = Ending::kMalformed;
  std::string why;  // for kHung / kMalformed (and the failure details)
};
[[nodiscard]] Judgement judge(const CallPlan& plan, const client::CallOutcome& out);

}  // namespace fnr::chaos
