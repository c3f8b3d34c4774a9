#include "bench/crun_helper.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "bench/fd_io.h"
#include "bench/oci_runtime.h"

namespace fnr::bench {
namespace {

constexpr const char* kUnifiedMount = "/sys/fs/cgroup/unified";

// Reply: i64 ns, u8 ok, u32 error length, error bytes.
bool send_reply(int fd, const SpawnRun& r) {
  const int64_t ns = r.ns;
  const uint8_t ok = r.ok ? 1 : 0;
  const auto len = static_cast<uint32_t>(r.error.size());
  return write_all(fd, &ns, sizeof ns) && write_all(fd, &ok, sizeof ok) &&
         write_all(fd, &len, sizeof len) && write_all(fd, r.error.data(), len);
}

bool receive_reply(int fd, SpawnRun* r) {
  int64_t ns = 0;
  uint8_t ok = 0;
  uint32_t len = 0;
  if (!read_all(fd, &ns, sizeof ns) || !read_all(fd, &ok, sizeof ok) ||
      !read_all(fd, &len, sizeof len) || len > (1U << 20)) {
    return false;
  }
  r->ns = ns;
  r->ok = ok != 0;
  r->error.resize(len);
  return read_all(fd, r->error.data(), len);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// "" when this process now has a private mount namespace without the
// cgroup2 mount that makes crun see a hybrid host.
std::string enter_private_mounts() {
  if (unshare(CLONE_NEWNS) != 0) return errno_text("unshare(CLONE_NEWNS)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return errno_text("make / private");
  }
  struct statfs st {};
  if (statfs(kUnifiedMount, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC &&
      umount2(kUnifiedMount, MNT_DETACH) != 0) {
    return errno_text("umount /sys/fs/cgroup/unified");
  }
  return {};
}

[[noreturn]] void helper_main(const CrunSetup& setup, int requests, int replies) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  SpawnRun ready;
  ready.error = enter_private_mounts();
  ready.ok = ready.error.empty();
  if (!send_reply(replies, ready) || !ready.ok) _exit(1);
  {
    OciRuntime crun(setup.program, setup.bundle, setup.state_root, setup.log_path);
    uint64_t seq = 0;
    while (read_all(requests, &seq, sizeof seq)) {
      if (!send_reply(replies, crun.run(seq))) break;
    }
  }  // deletes leftovers
  _exit(0);
}

size_t thread_count() {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace

std::unique_ptr<CrunHelper> CrunHelper::start(const CrunSetup& setup, std::string* error) {
  if (thread_count() != 1) {
    *error = "the bench already has threads; the crun helper cannot be forked safely";
    return nullptr;
  }
  int req[2];
  int rep[2];
  if (pipe2(req, O_CLOEXEC) != 0) {
    *error = errno_text("pipe2");
    return nullptr;
  }
  UniqueFd req_read(req[0]), req_write(req[1]);
  if (pipe2(rep, O_CLOEXEC) != 0) {
    *error = errno_text("pipe2");
    return nullptr;
  }
  UniqueFd rep_read(rep[0]), rep_write(rep[1]);
  const pid_t pid = fork();
  if (pid < 0) {
    *error = errno_text("fork");
    return nullptr;
  }
  if (pid == 0) {
    req_write.reset();
    rep_read.reset();
    helper_main(setup, req_read.get(), rep_write.get());
  }
  req_read.reset();
  rep_write.reset();
  std::unique_ptr<CrunHelper> helper(
      new CrunHelper(pid, std::move(req_write), std::move(rep_read)));
  SpawnRun ready;
  if (!receive_reply(helper->replies_.get(), &ready)) {
    *error = "the crun helper died while starting";
    return nullptr;
  }
  if (!ready.ok) {
    *error = "crun helper: " + ready.error;
    return nullptr;
  }
  return helper;
}

CrunHelper::~CrunHelper() {
  requests_.reset();  // EOF: the helper cleans up and leaves
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

SpawnRun CrunHelper::run(uint64_t seq) {
  SpawnRun r;
  if (!write_all(requests_.get(), &seq, sizeof seq) || !receive_reply(replies_.get(), &r)) {
    r = SpawnRun{};
    r.error = "the crun helper died";
  }
  return r;
}

}  // namespace fnr::bench
