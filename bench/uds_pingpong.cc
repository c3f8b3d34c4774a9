#include "bench/uds_pingpong.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "shared/unique_fd.h"

namespace fnr::bench {
namespace {

using Clock = std::chrono::steady_clock;

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// false on EOF or error before `size` bytes.
bool read_all(int fd, char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
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
    OpResult r;
    const auto start = Clock::now();
    if (!write_all(fd_.get(), buf_.data(), buf_.size()) ||
        !read_all(fd_.get(), buf_.data(), buf_.size())) {
      r.kind = OpResult::Kind::kError;
      r.error = std::string("echo child gone: ") + std::strerror(errno);
      return r;
    }
    r.latency = Clock::now() - start;
    return r;
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
  ThreadWorker(UniqueFd ping, UniqueFd pong) : ping_(std::move(ping)), pong_(std::move(pong)) {
    echo_ = std::thread([this] {
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
    OpResult r;
    const auto start = Clock::now();
    uint64_t v = 1;
    if (::write(ping_.get(), &v, sizeof v) != sizeof v ||
        ::read(pong_.get(), &v, sizeof v) != sizeof v) {
      r.kind = OpResult::Kind::kError;
      r.error = std::string("eventfd: ") + std::strerror(errno);
      return r;
    }
    r.latency = Clock::now() - start;
    return r;
  }

 private:
  UniqueFd ping_;
  UniqueFd pong_;
  std::thread echo_;
};

}  // namespace

WorkerFactory thread_pingpong_workers() {
  return [](uint32_t, std::string* error) -> std::unique_ptr<Worker> {
    UniqueFd ping(eventfd(0, EFD_CLOEXEC));
    UniqueFd pong(eventfd(0, EFD_CLOEXEC));
    if (!ping || !pong) {
      *error = std::string("eventfd: ") + std::strerror(errno);
      return nullptr;
    }
    return std::make_unique<ThreadWorker>(std::move(ping), std::move(pong));
  };
}

WorkerFactory uds_pingpong_workers(const Options& options) {
  return [size = std::max<size_t>(options.size, 1)](uint32_t,
                                                    std::string* error) -> std::unique_ptr<Worker> {
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
    return std::make_unique<UdsWorker>(std::move(mine), pid, size);
  };
}

}  // namespace fnr::bench
