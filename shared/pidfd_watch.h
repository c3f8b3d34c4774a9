#pragma once
// A child process watched through its pidfd on a libuv loop: its exit is
// reported once, it is SIGKILLed on request, and a watch destroyed while
// the child still runs kills and reaps it, so no code path leaves a
// process behind. Both the supervisor (its workers) and the worker (its
// function) use it.
#include <signal.h>
#include <sys/types.h>
#include <uv.h>

#include <functional>

#include "shared/unique_fd.h"

namespace fnr {

class PidfdWatch {
 public:
  using OnExit = std::function<void(const siginfo_t&)>;
  // `kill_more` (optional) runs before every SIGKILL of the child and before
  // its reap, while its pid cannot have been reused: the worker ends the
  // function's process group there.
  PidfdWatch(uv_loop_t* loop, pid_t pid, UniqueFd pidfd, OnExit on_exit,
             std::function<void()> kill_more = {});
  ~PidfdWatch();
  PidfdWatch(const PidfdWatch&) = delete;
  PidfdWatch& operator=(const PidfdWatch&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool reaped() const { return reaped_; }
  void kill();

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);
  pid_t pid_;
  UniqueFd pidfd_;
  uv_poll_t* poll_ = nullptr;  // freed in its close callback
  bool reaped_ = false;
  OnExit on_exit_;
  std::function<void()> kill_more_;
};

// The wait(2)-style status of an exit waitid reported.
int wait_status_of(const siginfo_t& info);

}  // namespace fnr
