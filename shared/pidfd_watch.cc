#include "shared/pidfd_watch.h"

#include <sys/wait.h>

#include <stdexcept>
#include <string>

#include "shared/uv_handles.h"

namespace fnr {

PidfdWatch::PidfdWatch(uv_loop_t* loop, pid_t pid, UniqueFd pidfd, OnExit on_exit,
                       std::function<void()> kill_more)
    : pid_(pid),
      pidfd_(std::move(pidfd)),
      on_exit_(std::move(on_exit)),
      kill_more_(std::move(kill_more)) {
  poll_ = new uv_poll_t{};
  if (int rc = uv_poll_init(loop, poll_, pidfd_.get()); rc != 0) {
    delete poll_;
    poll_ = nullptr;
    kill();
    siginfo_t info{};
    waitid(P_PIDFD, pidfd_.get(), &info, WEXITED);
    reaped_ = true;
    throw std::runtime_error(std::string("uv_poll_init(pidfd): ") + uv_strerror(rc));
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, on_readable);
}

void PidfdWatch::on_readable(uv_poll_t* poll, int /*status*/, int /*events*/) {
  auto* self = static_cast<PidfdWatch*>(poll->data);
  if (self == nullptr || self->reaped_) return;
  // The child is an unreaped zombie now: what kill_more names by its pid
  // (a process group) is still ours.
  if (self->kill_more_) self->kill_more_();
  siginfo_t info{};
  if (waitid(P_PIDFD, self->pidfd_.get(), &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) {
    return;
  }
  self->reaped_ = true;
  uv_poll_stop(poll);
  if (self->on_exit_) self->on_exit_(info);
}

void PidfdWatch::kill() {
  if (reaped_) return;
  if (kill_more_) kill_more_();
  ::kill(pid_, SIGKILL);
}

PidfdWatch::~PidfdWatch() {
  close_and_free(poll_);
  if (!reaped_ && pidfd_) {
    kill();
    siginfo_t info{};
    waitid(P_PIDFD, pidfd_.get(), &info, WEXITED);
  }
}

int wait_status_of(const siginfo_t& info) {
  return info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
}

}  // namespace fnr
