// The sandbox against a hostile function (fn-test-attack): each test makes
// one escape attempt from inside a real container started by the real
// runner, asserts that it failed, and that the host and the runner are
// unharmed (the runner keeps serving, nothing is left behind).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "shared/image_store.h"
#include "tests/e2e/background_call.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/oci_builder.h"
#include "tests/support/test_images.h"

namespace fnr::e2e {
namespace {

constexpr const char* kAttackImage = "e2e/attack:1";

class SandboxTest : public RunnerTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: the sandbox tests need root";
    RunnerTest::SetUp();
    test_support::import_binary_image(runner_->images_dir(), kAttackImage,
                                      std::string(FNR_BIN_DIR) + "/fn-test-attack");
  }

  client::CallOutcome attack(const std::string& mode, std::map<std::string, std::string> env = {},
                             int memory_mib = 128) {
    TestCall call;
    call.image = kAttackImage;
    call.memory_mib = memory_mib;
    call.config = std::move(env);
    call.config["ATTACK"] = mode;
    auto lb = runner_->lb();
    return lb->engage(call.json(), "");
  }

  // The runner still serves a benign call and leaves nothing reserved.
  void expect_runner_unharmed() {
    TestCall call;
    auto out = runner_->lb()->engage(call.json(), "still here");
    EXPECT_TRUE(out.success) << out.details;
    EXPECT_EQ(out.body, "still here");
    EXPECT_TRUE(runner_->wait_ledger_empty(std::chrono::seconds(10)));
  }
};

TEST_F(SandboxTest, CannotReadAHostFileOutsideTheImage) {
  const std::string secret_path = runner_->temp_dir() + "/host-secret";
  std::ofstream(secret_path) << "host-secret-4711\n";
  auto out = attack("read_host", {{"ATTACK_PATH", secret_path}});
  ASSERT_TRUE(out.success) << out.details;
  EXPECT_NE(out.body.find("BLOCKED"), std::string::npos) << out.body;
  EXPECT_EQ(out.body.find("host-secret-4711"), std::string::npos) << out.body;
  expect_runner_unharmed();
}

TEST_F(SandboxTest, CannotWriteTheRootFilesystem) {
  auto out = attack("write_root");
  EXPECT_NE(out.body.find("BLOCKED create /breach"), std::string::npos) << out.body;
  auto image = ImageStore(runner_->images_dir()).resolve(kAttackImage, nullptr);
  ASSERT_TRUE(image);
  EXPECT_FALSE(std::filesystem::exists(image->rootfs + "/breach"));
  expect_runner_unharmed();
}

TEST_F(SandboxTest, CannotSeeOrSignalHostProcesses) {
  pid_t victim = 0;
  char arg0[] = "sleep", arg1[] = "30";
  char* argv[] = {arg0, arg1, nullptr};
  ASSERT_EQ(posix_spawn(&victim, "/bin/sleep", nullptr, nullptr, argv, environ), 0);
  PidWatch victim_watch(victim);

  auto seen = attack("see_host");
  int count = -1;
  std::istringstream(seen.body.substr(seen.body.find(' ') + 1)) >> count;
  EXPECT_NE(seen.body.find("PROCESSES"), std::string::npos) << seen.body;
  EXPECT_GE(count, 1);
  EXPECT_LE(count, 3) << "the container sees host processes: " << seen.body;

  auto out = attack("signal_host", {{"ATTACK_PID", std::to_string(victim)}});
  EXPECT_NE(out.body.find("BLOCKED kill host pid"), std::string::npos) << out.body;
  EXPECT_FALSE(victim_watch.exited()) << "the host process was killed from inside a container";
  kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);
  expect_runner_unharmed();
}

TEST_F(SandboxTest, CannotReachAListenerOnTheHostLoopback) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  auto out = attack("connect_host", {{"ATTACK_PORT", std::to_string(port)}});
  EXPECT_NE(out.body.find("BLOCKED connect"), std::string::npos) << out.body;
  EXPECT_LT(accept(listener, nullptr, nullptr), 0) << "a container connected to the host";
  close(listener);
  expect_runner_unharmed();
}

TEST_F(SandboxTest, PrivilegedOperationsAreRefused) {
  for (const char* mode : {"mount", "ptrace", "userns", "userns_clone", "module", "setuid"}) {
    auto out = attack(mode);
    EXPECT_TRUE(out.success) << mode << ": " << out.details;
    EXPECT_EQ(out.body.rfind("BLOCKED", 0), 0U) << mode << ": " << out.body;
  }
  expect_runner_unharmed();
}

TEST_F(SandboxTest, FunctionRunsUnprivilegedWithNoCapabilities) {
  auto out = attack("caps");
  EXPECT_NE(out.body.find("CapEff:\t0000000000000000"), std::string::npos) << out.body;
  EXPECT_NE(out.body.find("CapBnd:\t0000000000000000"), std::string::npos) << out.body;
  EXPECT_NE(out.body.find("NoNewPrivs:\t1"), std::string::npos) << out.body;
  EXPECT_NE(out.body.find("UID 65534"), std::string::npos) << out.body;
}

TEST_F(SandboxTest, SetuidBitsAreStrippedAtImport) {
  using test_support::LayerEntry;
  test_support::ImageSpec spec;
  spec.layers.push_back(test_support::busybox_layer());
  test_support::Layer suid;
  // busybox picks its applet from argv[0]: a setuid-root copy named "id".
  LayerEntry su = LayerEntry::host_file("bin/id", "/bin/busybox");
  su.mode = 04755;
  suid.entries.push_back(su);
  spec.layers.push_back(suid);
  spec.entrypoint = {"/bin/id", "-u"};
  const std::string layout = test_support::make_temp_dir("suid-image");
  test_support::OciLayoutBuilder(layout).add(spec);
  ImageStore store(runner_->images_dir());
  const StoredImage img = store.import(layout, "e2e/suid:1");
  test_support::remove_all(layout);
  struct stat st {};
  ASSERT_EQ(stat((img.rootfs + "/bin/id").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & (S_ISUID | S_ISGID), 0U);

  TestCall call;
  call.image = "e2e/suid:1";
  auto out = runner_->lb()->engage(call.json(), "");
  ASSERT_TRUE(out.success) << out.details;
  EXPECT_EQ(out.body, "65534\n") << "a setuid binary changed the function's uid";
}

TEST_F(SandboxTest, ForkBombIsContainedAndTheRunnerKeepsServing) {
  auto out = attack("forkbomb");
  ASSERT_TRUE(out.success) << out.details;
  int forks = -1;
  std::istringstream(out.body.substr(out.body.find(' ') + 1)) >> forks;
  EXPECT_GT(forks, 0) << out.body;
  EXPECT_LT(forks, 256) << "pids.max did not stop the fork bomb: " << out.body;
  expect_runner_unharmed();
}

TEST_F(SandboxTest, MemoryHogGetsTheOutOfMemoryAnswer) {
  auto out = attack("memhog", {}, 64);
  EXPECT_FALSE(out.finished_success);
  EXPECT_EQ(out.details,
            "502:container out of memory, you may want to raise fn.memory for this function");
  expect_runner_unharmed();
}

TEST_F(SandboxTest, FillingTmpStopsAtItsLimit) {
  auto out = attack("filltmp");
  ASSERT_TRUE(out.success) << out.details;
  size_t mib = 0;
  std::istringstream(out.body.substr(std::string("TMP WROTE ").size())) >> mib;
  EXPECT_NE(out.body.find("No space left on device"), std::string::npos) << out.body;
  EXPECT_LE(mib, 64U) << out.body;
  expect_runner_unharmed();
}

TEST_F(SandboxTest, TheCallsMemoryLimitIsTheContainersCgroupLimit) {
  TestCall call;
  call.image = kAttackImage;
  call.memory_mib = 96;
  call.config["ATTACK"] = "cgroup_limit";
  client::CallOptions opts;
  std::string cgroup_line;
  uint64_t limit_seen = 0;
  // While the function holds still, read its cgroup's limit from the host:
  // the path is the one the kernel showed the function in /proc/self/cgroup.
  opts.on_data = [&](std::string_view bytes) {
    if (limit_seen != 0) return;
    std::istringstream in{std::string(bytes)};
    std::string line;
    while (std::getline(in, line)) {
      std::string file;
      if (const size_t at = line.find(":memory:"); at != std::string::npos) {
        file = "/sys/fs/cgroup/memory" + line.substr(at + 8) + "/memory.limit_in_bytes";
      } else if (line.rfind("CGROUP 0::", 0) == 0) {
        file = "/sys/fs/cgroup" + line.substr(10) + "/memory.max";
      }
      if (file.empty() || file.find("fn-runner/") == std::string::npos) continue;
      cgroup_line = line;
      std::ifstream(file) >> limit_seen;
    }
  };
  auto out = runner_->lb()->engage(call.json(), "", opts);
  ASSERT_TRUE(out.success) << out.details;
  EXPECT_NE(cgroup_line.find("fn-runner/"), std::string::npos) << cgroup_line;
  EXPECT_EQ(limit_seen, 96ULL << 20) << cgroup_line;
  expect_runner_unharmed();
}

TEST_F(SandboxTest, ZombiesInsideAreReapedAndNothingOutlivesTheCall) {
  TestCall call;
  call.image = kAttackImage;
  call.config["ATTACK"] = "zombies";
  call.config["TEST_MARKER"] = call.id;
  auto out = runner_->lb()->engage(call.json(), "");
  ASSERT_TRUE(out.success) << out.details;
  EXPECT_TRUE(runner_->wait_ledger_empty(std::chrono::seconds(10)));
  EXPECT_TRUE(wait_until([&] { return processes_with_env("TEST_MARKER=" + call.id).empty(); },
                         std::chrono::seconds(10)));
}

TEST_F(SandboxTest, ASigkilledWorkersContainerIsCleanedUpByTheSupervisor) {
  auto lb = runner_->lb();
  TestCall call;
  call.sleep_ms(60000);
  BackgroundCall running(*lb, call.json());
  const pid_t worker = runner_->wait_for_worker(call.id, std::chrono::seconds(10));
  ASSERT_NE(worker, 0);
  const pid_t init = RunnerHarness::wait_for_function(worker, std::chrono::seconds(10));
  ASSERT_NE(init, 0);
  std::vector<std::string> dirs;
  ASSERT_TRUE(wait_until([&] { return !(dirs = container_cgroup_dirs(init)).empty(); },
                         std::chrono::seconds(10)));
  for (const auto& d : dirs) ASSERT_TRUE(std::filesystem::exists(d)) << d;

  ASSERT_EQ(kill(worker, SIGKILL), 0);
  const client::CallOutcome& out = running.wait();
  EXPECT_EQ(out.details.rfind("502:", 0), 0U) << out.details;
  EXPECT_TRUE(PidWatch(init).wait_exit(std::chrono::seconds(5)));
  for (const auto& d : dirs) {
    EXPECT_TRUE(wait_until([&] { return !std::filesystem::exists(d); }, std::chrono::seconds(10)))
        << "cgroup " << d << " outlived its SIGKILLed worker";
  }
  expect_runner_unharmed();
}

}  // namespace
}  // namespace fnr::e2e
