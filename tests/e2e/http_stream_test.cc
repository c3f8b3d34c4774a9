// The http-stream format end to end (function-contract.md): the real runner
// starts fn-test-hsfunc in a real container, the function listens on
// /tmp/iofs/lsnr.sock, and each call is an HTTP/1.1 POST /call on a
// kept-alive connection. One test per row of the contract's response table
// and per way a function can break the contract at start.
#include <gtest/gtest.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/oci_builder.h"
#include "tests/support/test_images.h"

namespace fnr::e2e {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHsImage = "e2e/hs-func:1";
// Small enough that a too-large body is quick to send, big enough for the
// 1 MiB echo.
constexpr uint64_t kMaxResponseBytes = 4U << 20;
constexpr uint32_t kMaxHeaderBytes = 16U << 10;
constexpr uint32_t kStartTimeoutMs = 1500;
constexpr const char* kOomAnswer =
    "502:container out of memory, you may want to raise fn.memory for this function";

std::string header_of(const client::Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return "<none>";
}

bool has_header(const client::Headers& headers, std::string_view name) {
  return header_of(headers, name) != "<none>";
}

class HttpStreamTest : public RunnerTest {
 protected:
  // A runtime_dir of our own, so the tests can see socket directories come
  // and go; a response limit small enough to pass quickly, and header and
  // start-up limits of our own (not Fn's 64 KiB and 5 s) to show they apply.
  RunnerOptions runner_options() override {
    scratch_ = test_support::make_temp_dir("hs");
    runtime_dir_ = scratch_ + "/run";
    const std::string config = scratch_ + "/fn-runner.json";
    std::ofstream(config) << R"({"max_response_bytes": )" << kMaxResponseBytes
                          << R"(, "container_start_timeout_ms": )" << kStartTimeoutMs
                          << R"(, "sandbox": {"runtime_dir": ")" << runtime_dir_ << R"("}})";
    RunnerOptions o;
    o.extra_args = {"--config=" + config};
    // Fn's own name for the header limit, as an operator would set it.
    o.extra_env = {"FN_MAX_HDR_RESPONSE_SIZE=" + std::to_string(kMaxHeaderBytes)};
    return o;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: http-stream containers need root";
    RunnerTest::SetUp();
    test_support::import_binary_image(runner_->images_dir(), kHsImage,
                                      std::string(FNR_BIN_DIR) + "/fn-test-hsfunc");
  }

  void TearDown() override {
    RunnerTest::TearDown();
    if (!scratch_.empty()) test_support::remove_all(scratch_);
  }

  static TestCall hs_call(const std::string& mode) {
    TestCall call;
    call.image = kHsImage;
    call.format = "http-stream";
    call.config["HS_MODE"] = mode;
    return call;
  }

  client::CallOutcome run(const TestCall& call, const client::BodySource& body = {}) {
    return runner_->lb()->engage(call.json(), body);
  }

  // The runner keeps its containers' scratch in <runtime_dir>/<ledger name>.
  [[nodiscard]] std::string instance_dir() const {
    return runtime_dir_ + "/" + runner_->ledger_name();
  }

  // Socket directories (one per live container) under our runtime_dir.
  [[nodiscard]] size_t container_dirs() const {
    std::error_code ec;
    size_t n = 0;
    for (auto it = fs::directory_iterator(instance_dir(), ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
      ++n;
    }
    return n;
  }

  // "killed": the worker ends, its container with it, and the container's
  // socket directory is removed.
  ::testing::AssertionResult container_gone() const {
    if (wait_until([&] { return container_dirs() == 0; }, std::chrono::seconds(10))) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << container_dirs() << " container dirs remain in " << instance_dir();
  }

  // "kept": the container (and so its directory) outlives the call.
  ::testing::AssertionResult container_kept() const {
    if (container_dirs() == 1) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << container_dirs() << " container dirs, expected 1";
  }

  // `dir` as the fn-runner-worker child of the runner that has a listener
  // in it sees it (through /proc/<pid>/root, in that worker's mount
  // namespace); "" if none does. Spare workers see the host's view.
  [[nodiscard]] std::string seen_by_its_worker(const fs::path& dir) const {
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream stat_file(e.path() / "stat");
      std::string stat_line;
      std::getline(stat_file, stat_line);
      const size_t close = stat_line.rfind(')');
      if (close == std::string::npos || stat_line.find("(fn-runner-work") == std::string::npos) {
        continue;
      }
      std::istringstream rest(stat_line.substr(close + 2));
      char state = 0;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid != runner_->pid()) continue;
      const fs::path seen = e.path().string() + "/root" + dir.string();
      std::error_code ec;
      if (fs::is_symlink(seen / "lsnr.sock", ec)) return seen;
    }
    return "";
  }

  // The runner still serves an honest call afterwards.
  void expect_runner_serves() {
    TestCall call = hs_call("echo");
    auto out = run(call, "still here");
    EXPECT_TRUE(finished_ok(out, call.id));
    EXPECT_EQ(out.body, "still here");
  }

  std::string scratch_, runtime_dir_;
};

// --- the happy path -----------------------------------------------------------

TEST_F(HttpStreamTest, EchoIsBinarySafeFromEmptyToOneMebibyte) {
  for (const size_t size : {size_t{0}, size_t{1}, size_t{70000}, size_t{1} << 20}) {
    TestCall call = hs_call("echo");
    const std::string body = random_bytes(size);
    auto out = run(call, body);
    ASSERT_TRUE(finished_ok(out, call.id)) << size << " bytes";
    EXPECT_EQ(out.status_code, 200);
    EXPECT_EQ(out.body.size(), body.size());
    EXPECT_TRUE(out.body == body) << "echo of " << size << " bytes differs";
  }
  EXPECT_TRUE(container_kept());
}

TEST_F(HttpStreamTest, CurrentLbsSendNoFormatAndGetHttpStream) {
  TestCall call = hs_call("echo");
  call.format = "";
  auto out = run(call, "formatless");
  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "formatless");
}

TEST_F(HttpStreamTest, ChunkedAndInterimResponsesAreParsed) {
  for (const char* mode : {"echochunked", "interim"}) {
    TestCall call = hs_call(mode);
    const std::string body = random_bytes(100000);
    auto out = run(call, body);
    ASSERT_TRUE(finished_ok(out, call.id)) << mode;
    EXPECT_TRUE(out.body == body) << mode;
  }
}

TEST_F(HttpStreamTest, HeadersGoBothWaysWithoutHopByHopOnes) {
  TestCall call = hs_call("echo");
  call.headers["Content-Type"] = {"application/x-e2e"};
  call.headers["X-Test-Color"] = {"blue"};
  auto out = run(call, "h");
  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(header_of(out.headers, "Content-Type"), "application/x-e2e");
  EXPECT_EQ(header_of(out.headers, "X-Call-Id"), call.id);
  EXPECT_EQ(header_of(out.headers, "X-Echo-Color"), "blue");
  // RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:00:30.123Z.
  const std::string deadline = header_of(out.headers, "X-Deadline");
  EXPECT_EQ(deadline.size(), 24U) << deadline;
  EXPECT_EQ(deadline.back(), 'Z') << deadline;
  EXPECT_FALSE(has_header(out.headers, "Connection"));
  EXPECT_FALSE(has_header(out.headers, "Keep-Alive"));
  EXPECT_FALSE(has_header(out.headers, "Transfer-Encoding"));

  // What the function receives: the request head as its answer.
  TestCall h = hs_call("headers");
  h.headers["X-Test-Shape"] = {"round", "square"};
  h.headers["Connection"] = {"X-Private"};
  h.headers["X-Private"] = {"hop"};
  h.headers["Upgrade"] = {"h2c"};
  h.headers["Proxy-Authorization"] = {"secret"};
  h.headers["Content-Length"] = {"999"};
  h.headers["Fn-Call-Id"] = {"forged"};
  auto got = run(h, "body");
  ASSERT_TRUE(finished_ok(got, h.id));
  const std::string& head = got.body;
  EXPECT_EQ(head.rfind("POST /call HTTP/1.1\r\n", 0), 0U) << head;
  EXPECT_NE(head.find("\r\nHost: localhost\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nFn-Call-Id: " + h.id + "\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nFn-Deadline: "), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Test-Shape: round\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Test-Shape: square\r\n"), std::string::npos) << head;
  for (const char* gone :
       {"forged", "Content-Length", "X-Private", "Upgrade", "Proxy-", "Connection", "Expect"}) {
    EXPECT_EQ(head.find(gone), std::string::npos) << gone << " reached the function:\n" << head;
  }
}

TEST_F(HttpStreamTest, EnvironmentFollowsTheContract) {
  TestCall call = hs_call("env");
  call.memory_mib = 96;
  call.config["MY_KEY"] = "my value";
  auto out = run(call);
  ASSERT_TRUE(finished_ok(out, call.id));
  for (const char* line : {"FN_FORMAT=http-stream\n", "FN_LISTENER=unix:/tmp/iofs/lsnr.sock\n",
                           "FN_MEMORY=96\n", "FN_TYPE=sync\n", "FN_APP_ID=e2e-app\n",
                           "MY_KEY=my value\n", "HS_MODE=env\n", "PATH=/bin\n"}) {
    EXPECT_NE(out.body.find(line), std::string::npos) << line << " missing in:\n" << out.body;
  }
}

// --- the response table -------------------------------------------------------

TEST_F(HttpStreamTest, Status502IsFunctionFailedWithTheBodyAndTheContainerStays) {
  TestCall call = hs_call("status502");
  auto out = run(call, "x");
  EXPECT_TRUE(failed_with(out, 502, "502:function failed"));
  EXPECT_EQ(out.body, R"({"message":"boom"})");
  EXPECT_TRUE(container_kept());
}

TEST_F(HttpStreamTest, Status504IsTimedOutAndKillsTheContainer) {
  auto out = run(hs_call("status504"), "x");
  EXPECT_TRUE(failed_with(out, 504, "504:Timed out"));
  EXPECT_TRUE(container_gone());
  expect_runner_serves();
}

TEST_F(HttpStreamTest, AnyOtherStatusIsAnInvalidResponse) {
  auto out = run(hs_call("status418"), "x");
  EXPECT_TRUE(failed_with(out, 502, "502:invalid function response"));
  EXPECT_TRUE(container_gone());
}

TEST_F(HttpStreamTest, CrashOrCloseMidResponseIsAnErrorReceivingTheResponse) {
  for (const char* mode : {"crash", "closeconn"}) {
    auto out = run(hs_call(mode), "x");
    EXPECT_TRUE(failed_with(out, 502, "502:error receiving function response")) << mode;
    EXPECT_TRUE(container_gone()) << mode;
  }
}

TEST_F(HttpStreamTest, HeadersOverTheLimitAreRefused) {
  TestCall call = hs_call("hugeheaders");
  call.config["HS_BYTES"] = std::to_string(kMaxHeaderBytes + 1024);
  auto out = run(call, "x");
  EXPECT_TRUE(failed_with(out, 502, "502:function response header too large"));
  EXPECT_TRUE(container_gone());
}

TEST_F(HttpStreamTest, HeadersUnderTheLimitPass) {
  TestCall call = hs_call("hugeheaders");
  call.config["HS_BYTES"] = std::to_string(kMaxHeaderBytes - 1024);
  auto out = run(call, "x");
  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "small body");
}

TEST_F(HttpStreamTest, BodyOverTheLimitIsRefused) {
  TestCall call = hs_call("hugebody");
  call.config["HS_BYTES"] = std::to_string(kMaxResponseBytes + 65536);
  auto out = run(call, "x");
  EXPECT_TRUE(failed_with(out, 502, "502:function response body too large"));
  EXPECT_LE(out.body_bytes, kMaxResponseBytes);
  EXPECT_TRUE(container_gone());
}

TEST_F(HttpStreamTest, DeadlineKillsEvenWhenTheBodyIsNeverRead) {
  TestCall call = hs_call("sleep");
  call.timeout_s = 2;
  call.config["HS_SLEEP_MS"] = "60000";
  // More than the socket buffers and every queue in between hold: the
  // function reads none of it, and nothing may deadlock.
  auto out = run(call, random_bytes(8U << 20));
  EXPECT_TRUE(failed_with(out, 504, "504:Timed out"));
  EXPECT_LT(out.latency, std::chrono::seconds(5));
  EXPECT_TRUE(container_gone());
  expect_runner_serves();
}

TEST_F(HttpStreamTest, AnAnswerBeforeTheWholeBodyIsFine) {
  TestCall call = hs_call("noread");
  auto out = run(call, random_bytes(8U << 20));
  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "early");
}

TEST_F(HttpStreamTest, OutOfMemoryIsReportedAsSuch) {
  TestCall call = hs_call("memhog");
  call.memory_mib = 64;
  auto out = run(call, "x");
  EXPECT_TRUE(failed_with(out, 502, kOomAnswer));
  EXPECT_TRUE(container_gone());
}

// --- start-up: the contract's readiness rules -----------------------------------

TEST_F(HttpStreamTest, NoSocketWithinTheStartTimeoutIsAnInitTimeout) {
  auto out = run(hs_call("nosocket"), "x");
  EXPECT_TRUE(failed_with(out, 504, "504:Container initialization timed out"));
  EXPECT_GE(out.latency, std::chrono::milliseconds(kStartTimeoutMs - 100));
  EXPECT_LT(out.latency, std::chrono::milliseconds(kStartTimeoutMs + 3000));
  EXPECT_TRUE(container_gone());
}

TEST_F(HttpStreamTest, ABadListenerOrAnEarlyExitIsAnInitFailure) {
  for (const char* mode : {"badlink", "regularfile", "exitearly"}) {
    auto out = run(hs_call(mode), "x");
    EXPECT_TRUE(failed_with(out, 502, "502:Container failed to initialize")) << mode;
    EXPECT_LT(out.latency, std::chrono::seconds(3)) << mode;
    EXPECT_TRUE(container_gone()) << mode;
  }
  expect_runner_serves();
}

TEST_F(HttpStreamTest, APlainSocketThatListensLateIsAccepted) {
  TestCall call = hs_call("plainsocket");
  auto out = run(call, "plain");
  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "plain");
}

TEST_F(HttpStreamTest, TheStartCountsAgainstTheCallsDeadline) {
  TestCall call = hs_call("nosocket");
  call.timeout_s = 1;
  auto out = run(call, "x");
  EXPECT_TRUE(failed_with(out, 504, "504:"));
  EXPECT_LT(out.latency, std::chrono::milliseconds(2500));
}

// --- hot containers -------------------------------------------------------------

TEST_F(HttpStreamTest, TheSocketDirectoryIsPrivateAndGoesWithTheContainer) {
  TestCall call = hs_call("echo");
  nlohmann::json j = call.to_json();
  j["idle_timeout"] = 1;  // the pool ends the container soon after the call
  auto out = runner_->lb()->engage(j.dump(), "x");
  ASSERT_TRUE(finished_ok(out, call.id));
  ASSERT_TRUE(container_kept());
  const fs::path dir = fs::directory_iterator(instance_dir())->path() / "iofs";
  struct stat st {};
  ASSERT_EQ(lstat(dir.c_str(), &st), 0) << dir;
  EXPECT_EQ(st.st_mode & 07777, 0700U);
  EXPECT_EQ(st.st_uid, 65534U);  // the sandbox's uid: the function binds there
  // The host sees an empty directory; the listener is on a tmpfs in the
  // worker's own mount namespace, seen through /proc/<worker>/root.
  EXPECT_TRUE(fs::is_empty(dir));
  const fs::path seen = seen_by_its_worker(dir);
  ASSERT_FALSE(seen.empty()) << "no worker sees a listener in " << dir;
  EXPECT_TRUE(fs::is_symlink(seen / "lsnr.sock")) << seen;
  EXPECT_EQ(fs::read_symlink(seen / "lsnr.sock"), "lsnr.sock.tmp");
  EXPECT_TRUE(fs::is_socket(seen / "lsnr.sock.tmp"));
  // Idle timeout: the supervisor ends the worker, which removes it all.
  EXPECT_TRUE(container_gone());
}

TEST_F(HttpStreamTest, TheSocketDirectoryCannotFillTheHost) {
  TestCall call = hs_call("filliofs");
  auto out = run(call);
  ASSERT_TRUE(finished_ok(out, call.id));
  size_t filled = 0;
  std::istringstream(out.body.substr(std::string("FILLED ").size())) >> filled;
  EXPECT_NE(out.body.find("No space left on device"), std::string::npos) << out.body;
  EXPECT_LE(filled, 64U * 1024) << out.body;
  const fs::path dir = fs::directory_iterator(instance_dir())->path() / "iofs";
  EXPECT_TRUE(fs::is_empty(dir)) << "the function wrote to the host through " << dir;
}

TEST_F(HttpStreamTest, SequentialCallsReuseTheContainer) {
  TestCall first = hs_call("count");
  auto one = run(first, "a");
  ASSERT_TRUE(finished_ok(one, first.id));
  ASSERT_EQ(one.body, "1");
  TestCall second = hs_call("count");
  auto two = run(second, "b");
  ASSERT_TRUE(finished_ok(two, second.id));
  EXPECT_EQ(two.body, "2") << "the second call did not reach the first call's container";
  EXPECT_TRUE(container_kept());
}

TEST_F(HttpStreamTest, AFunctionClosingItsConnectionKeepsItsContainer) {
  // Connection: close after each answer: the next call connects anew to
  // the same process.
  for (const char* want : {"1", "2", "3"}) {
    TestCall call = hs_call("keepclose");
    auto out = run(call, "x");
    ASSERT_TRUE(finished_ok(out, call.id));
    EXPECT_EQ(out.body, want);
  }
  EXPECT_TRUE(container_kept());
}

}  // namespace
}  // namespace fnr::e2e
