// Under a Type=notify systemd unit: the runner says READY=1 once it listens,
// pings WATCHDOG=1 from its loop thread, says STOPPING=1 when SIGTERM starts
// the drain, and exits 0. systemd is played by a Unix datagram socket at
// $NOTIFY_SOCKET.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "shared/unique_fd.h"
#include "tests/e2e/background_call.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// The receiving end of $NOTIFY_SOCKET, in a private temp dir.
class NotifySocket {
 public:
  NotifySocket() {
    char dir[] = "/tmp/fnr-sd-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    path_ = dir_ + "/notify";
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (fd_ && ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      fd_.reset();
    }
  }
  ~NotifySocket() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  [[nodiscard]] bool ok() const { return static_cast<bool>(fd_); }
  [[nodiscard]] const std::string& path() const { return path_; }

  // Receives datagrams until one has the line `line`; every datagram seen
  // is appended to `seen`. False at the timeout.
  bool wait_for(const std::string& line, milliseconds timeout, std::vector<std::string>& seen) {
    const auto deadline = steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
      if (left <= 0) return false;
      pollfd pfd{fd_.get(), POLLIN, 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      char buf[4096];
      const ssize_t len = ::recv(fd_.get(), buf, sizeof(buf), 0);
      if (len < 0) return false;
      const std::string msg(buf, static_cast<size_t>(len));
      seen.push_back(msg);
      if (("\n" + msg + "\n").find("\n" + line + "\n") != std::string::npos) return true;
    }
  }

 private:
  std::string dir_, path_;
  UniqueFd fd_;
};

std::string joined(const std::vector<std::string>& seen) {
  std::string out;
  for (const auto& m : seen) out += "[" + m + "] ";
  return out;
}

TEST(SdNotifyTest, ReadyWatchdogStoppingThenCleanExit) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok()) << "notify socket: " << strerror(errno);
  RunnerOptions options;
  // 200 ms: a ping every 100 ms. No WATCHDOG_PID, so any pid may ping.
  options.extra_env = {"NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=200000"};
  RunnerHarness runner(options);
  ASSERT_TRUE(runner.start());

  std::vector<std::string> seen;
  ASSERT_TRUE(notify.wait_for("READY=1", seconds(10), seen)) << joined(seen);
  EXPECT_NE(seen.back().find("STATUS=listening on"), std::string::npos) << seen.back();
  ASSERT_TRUE(notify.wait_for("WATCHDOG=1", seconds(5), seen)) << joined(seen);
  // Still pinging: the timer repeats.
  ASSERT_TRUE(notify.wait_for("WATCHDOG=1", seconds(5), seen)) << joined(seen);

  runner.signal(SIGTERM);
  ASSERT_TRUE(notify.wait_for("STOPPING=1", seconds(10), seen)) << joined(seen);
  EXPECT_TRUE(exited_cleanly(runner.wait_exit(seconds(20)))) << runner.log();
}

// A drain longer than systemd's stop timeout period must keep telling it
// that the stop progresses. The period is 5 s in service; the runner takes
// FNR_SD_EXTEND_PERIOD_MS (undocumented, tests only) to make it 200 ms here.
TEST(SdNotifyTest, LongDrainExtendsTheStopTimeout) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok()) << "notify socket: " << strerror(errno);
  RunnerOptions options;
  options.drain_timeout_s = 60;
  options.extra_env = {"NOTIFY_SOCKET=" + notify.path(), "FNR_SD_EXTEND_PERIOD_MS=200"};
  RunnerHarness runner(options);
  ASSERT_TRUE(runner.start());
  std::vector<std::string> seen;
  ASSERT_TRUE(notify.wait_for("READY=1", seconds(10), seen)) << joined(seen);

  auto lb = runner.lb(client::LbMode::kMay);
  TestCall slow;
  slow.sleep_ms(1500);
  BackgroundCall in_flight(*lb, slow.json(), "slow stop");
  ASSERT_NE(runner.wait_for_worker(slow.id, seconds(10)), 0) << "call never ran";

  runner.signal(SIGTERM);
  ASSERT_TRUE(notify.wait_for("STOPPING=1", seconds(10), seen)) << joined(seen);
  // 10 s from now, every period while the call is in flight.
  ASSERT_TRUE(notify.wait_for("EXTEND_TIMEOUT_USEC=10000000", seconds(10), seen)) << joined(seen);
  ASSERT_TRUE(notify.wait_for("EXTEND_TIMEOUT_USEC=10000000", seconds(10), seen)) << joined(seen);

  const client::CallOutcome& out = in_flight.wait();
  EXPECT_TRUE(finished_ok(out, slow.id));
  EXPECT_EQ(out.body, "slow stop");
  EXPECT_TRUE(exited_cleanly(runner.wait_exit(seconds(20)))) << runner.log();
}

// SIGHUP under Type=notify-reload: RELOADING=1 with MONOTONIC_USEC, then
// READY=1 once the new configuration is in place.
TEST(SdNotifyTest, ReloadSaysReloadingThenReady) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok()) << "notify socket: " << strerror(errno);
  RunnerOptions options;
  options.extra_env = {"NOTIFY_SOCKET=" + notify.path()};
  RunnerHarness runner(options);
  ASSERT_TRUE(runner.start());
  std::vector<std::string> seen;
  ASSERT_TRUE(notify.wait_for("READY=1", seconds(10), seen)) << joined(seen);

  runner.signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for("RELOADING=1", seconds(10), seen)) << joined(seen);
  EXPECT_NE(seen.back().find("MONOTONIC_USEC="), std::string::npos) << seen.back();
  ASSERT_TRUE(notify.wait_for("READY=1", seconds(10), seen)) << joined(seen);
  EXPECT_NE(runner.log().find("configuration reloaded (#1)"), std::string::npos) << runner.log();
  EXPECT_TRUE(exited_cleanly(runner.stop()));
}

}  // namespace
}  // namespace fnr::e2e
