// An invalid configuration at start: the real fn-runner exits 2 having
// created nothing: no ledger segment in /dev/shm, no listening port, no
// control socket.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "shared/unique_fd.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_certs.h"

namespace fnr::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// A loopback port nobody listens on right now.
int unused_port() {
  const UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

bool something_listens(int port) {
  const UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return fd && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

struct Exit {
  int code = -1;  // -1: did not exit by itself within the deadline
  std::string output;
};

// Runs fn-runner with `args` and a clean environment plus `env`; its
// stderr goes to <dir>/out.log.
Exit run_runner(const std::string& dir, std::vector<std::string> args,
                std::vector<std::string> env) {
  args.insert(args.begin(), std::string(FNR_BIN_DIR) + "/fn-runner");
  env.insert(env.end(), {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"});
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string out_path = dir + "/out.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  Exit e;
  if (rc != 0) return e;
  const PidWatch watch(pid);
  if (!watch.wait_exit(seconds(20))) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  std::error_code ec;
  if (fs::exists(out_path, ec)) {
    FILE* f = std::fopen(out_path.c_str(), "r");
    char buf[4096];
    size_t n = 0;
    while (f != nullptr && (n = std::fread(buf, 1, sizeof buf, f)) > 0) e.output.append(buf, n);
    if (f != nullptr) std::fclose(f);
  }
  return e;
}

struct BadStart {
  const char* what;
  std::string file;               // the JSON config ("" = none)
  std::vector<std::string> env;   // extra NAME=VALUE
  std::vector<std::string> args;  // extra flags
  const char* says;               // in the output
};

TEST(StartupTest, InvalidConfigurationExitsTwoAndCreatesNothing) {
  RunnerHarness scratch;  // a temp dir, and a ledger name nobody uses
  const std::string& dir = scratch.temp_dir();
  const std::string& ledger = scratch.ledger_name();
  const std::vector<BadStart> cases = {
      {"invalid JSON", "{ not json", {}, {}, "config:"},
      {"unknown key", R"({"grpc_adress": "127.0.0.1:1"})", {}, {}, "grpc_adress"},
      {"invalid value", R"({"log_level": "loud"})", {}, {}, "unknown log level"},
      {"invalid flag value", "", {}, {"--drain-timeout=soon"}, "drain"},
      {"TLS files missing",
       "",
       {"FN_NODE_CERT=" + dir + "/none.crt", "FN_NODE_CERT_KEY=" + dir + "/none.key",
        "FN_NODE_CERT_AUTHORITY=" + dir + "/none-ca.crt"},
       {},
       "cannot read certificate"},
      {"TLS files half set", "", {"FN_NODE_CERT=" + dir + "/none.crt"}, {}, "must be set together"},
  };
  for (const BadStart& c : cases) {
    SCOPED_TRACE(c.what);
    const int port = unused_port();
    ASSERT_NE(port, 0);
    std::vector<std::string> args = {"--grpc-address=127.0.0.1:" + std::to_string(port),
                                     "--images-dir=" + scratch.images_dir(),
                                     "--ledger-name=" + ledger};
    if (!c.file.empty()) {
      ASSERT_TRUE(write_file(dir + "/bad.json", c.file));
      args.push_back("--config=" + dir + "/bad.json");
    }
    args.insert(args.end(), c.args.begin(), c.args.end());
    const Exit e = run_runner(dir, args, c.env);
    EXPECT_EQ(e.code, 2) << e.output;
    EXPECT_NE(e.output.find(c.says), std::string::npos) << e.output;
    EXPECT_FALSE(fs::exists("/dev/shm/" + ledger)) << "a ledger segment was created";
    EXPECT_FALSE(fs::exists(scratch.control_socket())) << "a control socket was created";
    EXPECT_FALSE(something_listens(port)) << "something listens on the runner's port";
  }
}

}  // namespace
}  // namespace fnr::e2e
