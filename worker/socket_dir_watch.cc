#include "worker/socket_dir_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "shared/uv_handles.h"

namespace fnr {

SocketDirWatch::SocketDirWatch(uv_loop_t* loop, const std::string& dir, std::string name,
                               std::function<void()> on_event)
    : name_(std::move(name)), on_event_(std::move(on_event)) {
  inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) throw std::runtime_error(std::string("inotify_init1: ") + std::strerror(errno));
  // IN_DONT_FOLLOW|IN_ONLYDIR: we watch the directory we made, never
  // something a symlink leads to.
  if (inotify_add_watch(inotify_.get(), dir.c_str(),
                        IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW) < 0) {
    throw std::runtime_error("inotify_add_watch " + dir + ": " + std::strerror(errno));
  }
  poll_ = new uv_poll_t{};
  if (int rc = uv_poll_init(loop, poll_, inotify_.get()); rc != 0) {
    delete poll_;
    poll_ = nullptr;
    throw std::runtime_error(std::string("uv_poll_init(inotify): ") + uv_strerror(rc));
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, on_readable);
}

SocketDirWatch::~SocketDirWatch() { stop(); }

void SocketDirWatch::stop() {
  // The handle leaves epoll here, before its fd is closed.
  close_and_free(poll_);
  inotify_.reset();
}

void SocketDirWatch::on_readable(uv_poll_t* poll, int /*status*/, int /*events*/) {
  auto* self = static_cast<SocketDirWatch*>(poll->data);
  if (self == nullptr) return;
  // The callback comes last: it may stop() us.
  if (self->drain_events()) self->on_event_();
}

// Reads every queued event; true if one was about our name.
bool SocketDirWatch::drain_events() {
  alignas(struct inotify_event) char buf[4096];
  bool seen = false;
  for (;;) {
    const ssize_t n = read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
      // IN_Q_OVERFLOW lost events: look anyway, the owner re-checks.
      if ((ev->mask & IN_Q_OVERFLOW) != 0 || (ev->len > 0 && name_ == ev->name)) seen = true;
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
    }
  }
  return seen;
}

}  // namespace fnr
