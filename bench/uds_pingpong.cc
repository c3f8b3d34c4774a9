#include "bench/uds_pingpong.h"

#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "bench/fd_io.h"
#include "shared/unique_fd.h"

namespace fnr::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The first two CPUs this process may use, or -1s.
std::pair<int, int> two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::pair<int, int> cpus{-1, -1};
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (cpus.first < 0) {
      cpus.first = cpu;
    } else {
      cpus.second = cpu;
      break;
    }
  }
  return cpus;
}

// The CPU for one side (0: the measuring side, 1: the echo), or -1: free.
int cpu_for(Placement placement, int side) {
  const auto [a, b] = two_cpus();
  if (placement == Placement::kFree || a < 0) return -1;
  if (placement == Placement::kSameCpu || b < 0) return a;
  return side == 0 ? a : b;
}

// `tid` 0 is the calling thread.
void pin(pid_t tid, int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)sched_setaffinity(tid, sizeof set, &set);
}

// The child echoes until the parent closes its end. It only closes, reads,
// writes and exits (a child of a threaded process), into a buffer allocated
// before the fork; it drops every other fd, or a sibling's copy of another
// worker's end would keep that worker's child from seeing EOF.
[[noreturn]] void echo_child(int fd, char* buf, size_t size) {
  if (fd > 3) close_range(3, static_cast<unsigned>(fd) - 1, 0);
  close_range(static_cast<unsigned>(fd) + 1, ~0U, 0);
  while (read_all(fd, buf, size) && write_all(fd, buf, size)) {
  }
  _exit(0);
}

class UdsWorker : public Worker {
 public:
  UdsWorker(UniqueFd fd, pid_t child, size_t size)
      : fd_(std::move(fd)), child_(child), buf_(size, 'x') {}
  ~UdsWorker() override {
    fd_.reset();  // the child sees EOF and exits
    int status = 0;
    while (waitpid(child_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  UdsWorker(const UdsWorker&) = delete;
  UdsWorker& operator=(const UdsWorker&) = delete;

  OpResult call() override {
    const auto t0 = Clock::now();
    if (!write_all(fd_.get(), buf_.data(), buf_.size()) ||
        !read_all(fd_.get(), buf_.data(), buf_.size())) {
      return {OpResult::Kind::kError, {}, std::string("echo child gone: ") + std::strerror(errno)};
    }
    return {OpResult::Kind::kOk, Clock::now() - t0, {}};
  }

 private:
  UniqueFd fd_;
  pid_t child_;
  std::vector<char> buf_;
};

// Each round trip: the caller signals `ping_` and blocks on `pong_`; the
// echo thread, blocked on `ping_`, signals `pong_`.
class ThreadWorker : public Worker {
 public:
  ThreadWorker(UniqueFd ping, UniqueFd pong, int echo_cpu)
      : ping_(std::move(ping)), pong_(std::move(pong)) {
    echo_ = std::thread([this, echo_cpu] {
      pin(0, echo_cpu);
      uint64_t v = 0;
      while (::read(ping_.get(), &v, sizeof v) == sizeof v && v == 1) {
        v = 1;
        if (::write(pong_.get(), &v, sizeof v) != sizeof v) break;
      }
    });
  }
  ~ThreadWorker() override {
    const uint64_t stop = 2;  // any value but 1 ends the echo thread
    (void)!::write(ping_.get(), &stop, sizeof stop);
    echo_.join();
  }
  ThreadWorker(const ThreadWorker&) = delete;
  ThreadWorker& operator=(const ThreadWorker&) = delete;

  OpResult call() override {
    const auto t0 = Clock::now();
    uint64_t v = 1;
    if (::write(ping_.get(), &v, sizeof v) != sizeof v ||
        ::read(pong_.get(), &v, sizeof v) != sizeof v) {
      return {OpResult::Kind::kError, {}, std::string("eventfd: ") + std::strerror(errno)};
    }
    return {OpResult::Kind::kOk, Clock::now() - t0, {}};
  }

 private:
  UniqueFd ping_;
  UniqueFd pong_;
  std::thread echo_;
};

}  // namespace

bool can_cross_cpus() { return two_cpus().second >= 0; }

WorkerFactory thread_pingpong_workers(Placement placement) {
  return [placement](uint32_t, std::string* error) -> std::unique_ptr<Worker> {
    UniqueFd ping(eventfd(0, EFD_CLOEXEC));
    UniqueFd pong(eventfd(0, EFD_CLOEXEC));
    if (!ping || !pong) {
      *error = std::string("eventfd: ") + std::strerror(errno);
      return nullptr;
    }
    // Both chosen before either pin narrows this thread's CPU set.
    const int mine = cpu_for(placement, 0);
    const int echo = cpu_for(placement, 1);
    pin(0, mine);
    return std::make_unique<ThreadWorker>(std::move(ping), std::move(pong), echo);
  };
}

WorkerFactory uds_pingpong_workers(const Options& options, Placement placement) {
  return [size = std::max<size_t>(options.size, 1), placement](
             uint32_t, std::string* error) -> std::unique_ptr<Worker> {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      *error = std::string("socketpair: ") + std::strerror(errno);
      return nullptr;
    }
    UniqueFd mine(fds[0]);
    UniqueFd theirs(fds[1]);
    std::vector<char> child_buf(size);
    const pid_t pid = fork();
    if (pid < 0) {
      *error = std::string("fork: ") + std::strerror(errno);
      return nullptr;
    }
    if (pid == 0) echo_child(theirs.get(), child_buf.data(), size);
    const int mine_cpu = cpu_for(placement, 0);
    const int echo_cpu = cpu_for(placement, 1);
    pin(0, mine_cpu);
    pin(pid, echo_cpu);
    return std::make_unique<UdsWorker>(std::move(mine), pid, size);
  };
}

}  // namespace fnr::bench
