#include "bench/runner_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "bench/spawn_timer.h"
#include "shared/ledger.h"
#include "shared/unique_fd.h"

extern char** environ;

namespace fnr::bench {
namespace {

constexpr auto kStopTimeout = std::chrono::seconds(15);

// A port the kernel just handed out; free again once the socket closes.
int free_loopback_port() {
  const UniqueFd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!s || bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return -1;
  }
  return ntohs(addr.sin_port);
}

}  // namespace

std::unique_ptr<RunnerProcess> RunnerProcess::start(const RunnerSetup& setup, std::string* error) {
  const int port = free_loopback_port();
  if (port < 0) {
    *error = std::string("no free loopback port: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<RunnerProcess> r(new RunnerProcess());
  r->address_ = "127.0.0.1:" + std::to_string(port);
  r->ledger_ = "fnr-bench-coldstart-" + std::to_string(getpid());
  r->log_path_ = setup.log_path;

  std::vector<std::string> args = {setup.program,
                                   "--grpc-address=" + r->address_,
                                   "--images-dir=" + setup.images_dir,
                                   "--ledger-name=" + r->ledger_,
                                   "--log-level=" + setup.log_level,
                                   "--drain-timeout=5"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  SpawnSetup s;
  posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&s.actions, 1, setup.log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&s.actions, 1, 2);
  if (const int rc =
          posix_spawn(&r->pid_, setup.program.c_str(), &s.actions, &s.attr, argv.data(), environ);
      rc != 0) {
    *error = "posix_spawn " + setup.program + ": " + std::strerror(rc);
    r->pid_ = -1;
    return nullptr;
  }
  return r;
}

bool RunnerProcess::alive() {
  if (reaped_ || pid_ < 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

RunnerProcess::~RunnerProcess() {
  if (pid_ < 0) return;
  if (alive()) {
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
    while (alive() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (alive()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // A clean stop removes it; a killed runner does not.
  Ledger::remove(ledger_);
}

std::string RunnerProcess::log_tail(size_t max_bytes) const {
  std::ifstream in(log_path_);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

}  // namespace fnr::bench
