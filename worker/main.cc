// fn-runner-worker: runs one call for the supervisor. The supervisor starts
// it with the call's socket on fd 3 (FNR_WORKER_FD overrides) and the
// supervisor's pid in FNR_PARENT_PID, the seccomp filter on FNR_SECCOMP_FD;
// it dies with the supervisor.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "shared/log.h"
#include "shared/seccomp_policy.h"
#include "worker/call_session.h"

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

}  // namespace

int main() {
  // Die with the supervisor; if it already died between spawn and here,
  // we were reparented and must not run a call nobody will collect.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int parent = env_int("FNR_PARENT_PID", 0);
  if (parent != 0 && getppid() != parent) return 1;
  signal(SIGPIPE, SIG_IGN);

  const char* level = std::getenv("FN_LOG_LEVEL");
  fnr::init_logging("worker", level != nullptr ? level : "info");

  // The supervisor compiled the seccomp filter once and passes it as a
  // sealed memfd; reading it costs microseconds, compiling it milliseconds.
  std::vector<sock_filter> seccomp;
  if (const int fd = env_int("FNR_SECCOMP_FD", -1); fd >= 0) {
    try {
      seccomp = fnr::read_seccomp_policy(fd);
    } catch (const std::exception& e) {
      spdlog::critical("worker: {}", e.what());
      return 1;
    }
    close(fd);
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    auto session = std::make_unique<fnr::CallSession>(
        &loop, fnr::UniqueFd(env_int("FNR_WORKER_FD", 3)), seccomp);
    uv_run(&loop, UV_RUN_DEFAULT);
    session.reset();
  }
  // Let close callbacks of the handles the session released run.
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
