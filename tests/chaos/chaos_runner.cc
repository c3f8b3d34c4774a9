#include "tests/chaos/chaos_runner.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/oci_builder.h"
#include "tests/support/test_images.h"

namespace fnr::chaos {
namespace {

namespace fs = std::filesystem;

struct FormatImage {
  const char* image;
  const char* binary;     // in FNR_BIN_DIR
  const char* format;     // the call's format
  const char* mode_key;   // the function's mode variable (call config)
  const char* sleep_key;  // ... and its sleep variable
};

const FormatImage& image_of(Format f) {
  static const FormatImage kImages[] = {
      {e2e::kTestImage, "fn-test-func", "default", "TEST_MODE", "TEST_SLEEP_MS"},
      {"chaos/hs-func:1", "fn-test-hsfunc", "http-stream", "HS_MODE", "HS_SLEEP_MS"},
      {"chaos/http-func:1", "fn-test-httpfunc", "http", "HF_MODE", "HF_SLEEP_MS"},
      {"chaos/json-func:1", "fn-test-jsonfunc", "json", "JF_MODE", "JF_SLEEP_MS"},
  };
  return kImages[static_cast<int>(f)];
}

// The instance's cgroup dirs from the supervisor's /proc/<pid>/cgroup,
// mirroring CgroupLayout::prepare (shared/cgroup.cc): v1 <mount of each
// controller><own path>/fn-runner/<instance>, v2 the same under the
// unified root, where the supervisor sits in the leaf "supervisor".
std::vector<std::string> find_cgroup_bases(pid_t pid, const std::string& instance) {
  std::vector<std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    std::string dir;
    if (ctrls.empty()) {
      const std::string leaf = "/supervisor";
      if (path.size() >= leaf.size() &&
          path.compare(path.size() - leaf.size(), leaf.size(), leaf) == 0) {
        path.resize(path.size() - leaf.size());
      }
      dir = "/sys/fs/cgroup" + path;
    } else if (ctrls.find("memory") != std::string::npos ||
               ctrls.find("pids") != std::string::npos || ctrls.find("cpu") != std::string::npos) {
      dir.append("/sys/fs/cgroup/").append(ctrls).append(path);
    } else {
      continue;
    }
    if (dir.back() != '/') dir += '/';
    dir += "fn-runner/" + instance;
    std::error_code ec;
    if (fs::is_directory(dir, ec)) out.push_back(dir);
  }
  return out;
}

}  // namespace

ChaosRunner::ChaosRunner(const ChaosRunnerOptions& options) {
  scratch_ = test_support::make_temp_dir("fnr-chaos");
  runtime_root_ = scratch_ + "/run";
  marker_ = "chaos-" + std::to_string(getpid()) + "-" + e2e::new_call_id();
  const std::string config = scratch_ + "/fn-runner.json";
  std::ofstream(config) << R"({"sandbox": {"runtime_dir": ")" << runtime_root_ << R"("}})";
  e2e::RunnerOptions o;
  o.max_total_memory_bytes = options.capacity_bytes;
  o.drain_timeout_s = options.drain_timeout_s;
  o.extra_args = {"--config=" + config, "--log-level=info"};
  harness_ = std::make_unique<e2e::RunnerHarness>(o);
}

ChaosRunner::~ChaosRunner() {
  harness_.reset();
  if (!scratch_.empty()) test_support::remove_all(scratch_);
}

bool ChaosRunner::start(std::string* error) {
  if (harness_->temp_dir().empty()) {
    *error = "the harness could not make its temp dir";
    return false;
  }
  for (const Format f : kAllFormats) {
    if (f == Format::kDefault) continue;  // the harness imports fn-test-func itself
    const FormatImage& img = image_of(f);
    try {
      test_support::import_binary_image(harness_->images_dir(), img.image,
                                        std::string(FNR_BIN_DIR) + "/" + img.binary);
    } catch (const std::exception& ex) {
      *error = std::string("importing ") + img.image + ": " + ex.what();
      return false;
    }
  }
  const ::testing::AssertionResult started = harness_->start();
  if (!started) {
    *error = started.message();
    return false;
  }
  cgroup_bases_ = find_cgroup_bases(harness_->pid(), harness_->ledger_name());
  worker_env_ = "FNR_PARENT_PID=" + std::to_string(harness_->pid());
  return true;
}

std::string ChaosRunner::instance_runtime_dir() const {
  return runtime_root_ + "/" + harness_->ledger_name();
}

const char* format_name(Format f) { return image_of(f).format; }

CallPlan make_call(Format format, const std::string& marker, int slot, int sleep_ms,
                   std::string body, uint32_t idle_timeout_s, int timeout_s, uint32_t memory_mib) {
  const FormatImage& img = image_of(format);
  e2e::TestCall call;
  call.image = img.image;
  call.format = img.format;
  call.timeout_s = timeout_s;
  call.memory_mib = static_cast<int>(memory_mib);
  call.config["CHAOS_MARKER"] = marker;
  call.config["CHAOS_SLOT"] = std::to_string(slot);
  if (format == Format::kHttp || format == Format::kJson) call.config["FN_FORMAT"] = img.format;
  if (sleep_ms > 0) {
    call.config[img.mode_key] = "sleep";
    call.config[img.sleep_key] = std::to_string(sleep_ms);
  } else {
    call.config[img.mode_key] = "echo";
  }
  nlohmann::json j = call.to_json();
  j["idle_timeout"] = idle_timeout_s;
  CallPlan plan;
  plan.format = format;
  plan.id = call.id;
  plan.json = j.dump();
  plan.body = std::move(body);
  plan.sleep_ms = sleep_ms;
  return plan;
}

std::string text_body(std::mt19937_64& rng, size_t n) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out(n, '\0');
  for (char& c : out) c = kChars[rng() % (sizeof kChars - 1)];
  return out;
}

const char* ending_name(Ending e) {
  switch (e) {
    case Ending::kOk:
      return "ok";
    case Ending::kFailed:
      return "failed";
    case Ending::kNacked:
      return "nacked";
    case Ending::kCancelled:
      return "cancelled";
    case Ending::kHung:
      return "hung";
    case Ending::kMalformed:
      return "malformed";
  }
  return "?";
}

Judgement judge(const CallPlan& plan, const client::CallOutcome& out) {
  const auto bad = [&](Ending e, const std::string& what) {
    return Judgement{e, what + ": " + e2e::describe(out)};
  };
  if (!out.protocol_error.empty()) return bad(Ending::kMalformed, "protocol deviation");
  if (out.grpc_code == static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED)) {
    return bad(Ending::kHung, "our deadline passed");
  }
  if (out.cancelled_by_us && !out.finished) {
    if (out.grpc_code == static_cast<int>(grpc::StatusCode::CANCELLED))
      return {Ending::kCancelled, ""};
    return bad(Ending::kMalformed, "cancelled, but the stream did not end CANCELLED");
  }
  if (out.nacked) {
    if (e2e::nacked(out)) return {Ending::kNacked, out.ack_details};
    return bad(Ending::kMalformed, "a NACK not as runner-protocol.md says");
  }
  if (out.finished && out.finished_success) {
    if (out.cancelled_by_us) return {Ending::kCancelled, "finished before the cancel"};
    if (!e2e::finished_ok(out, plan.id))
      return bad(Ending::kMalformed, "a success not as specified");
    if (out.body != plan.body) {
      return bad(Ending::kMalformed, "the echo came back different (" +
                                         std::to_string(out.body.size()) + " of " +
                                         std::to_string(plan.body.size()) + " bytes)");
    }
    return {Ending::kOk, ""};
  }
  if (out.finished) {
    if (out.error_code == 504) return bad(Ending::kHung, "the runner's timeout");
    if (out.cancelled_by_us)
      return {Ending::kCancelled, "failed before the cancel: " + out.details};
    if (out.error_code == 0 || out.grpc_code != 0) {
      return bad(Ending::kMalformed, "a failure without a code or with a stream error");
    }
    return {Ending::kFailed, out.details};
  }
  return bad(Ending::kMalformed, "no finished, no NACK");
}

}  // namespace fnr::chaos
