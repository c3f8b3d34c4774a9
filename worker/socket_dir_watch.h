#pragma once
// Readiness of an http-stream function without polling: inotify on its
// socket directory reports when `name` is created there or renamed into it
// (fdk-node binds lsnr.sock.tmp and then symlinks lsnr.sock to it; others
// bind lsnr.sock directly or rename a finished symlink into place).
#include <uv.h>

#include <functional>
#include <string>

#include "shared/unique_fd.h"

namespace fnr {

class SocketDirWatch {
 public:
  // Watches `dir`; `on_event` runs (on the loop) each time `name` appears
  // in it. The owner should look once right after constructing this too:
  // anything that appeared before the watch existed is not reported.
  // Throws std::runtime_error.
  SocketDirWatch(uv_loop_t* loop, const std::string& dir, std::string name,
                 std::function<void()> on_event);
  ~SocketDirWatch();
  SocketDirWatch(const SocketDirWatch&) = delete;
  SocketDirWatch& operator=(const SocketDirWatch&) = delete;

  // Stops watching; safe from inside on_event (unlike destroying this).
  void stop();

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);
  bool drain_events();

  UniqueFd inotify_;
  uv_poll_t* poll_ = nullptr;  // freed in its close callback
  std::string name_;
  std::function<void()> on_event_;
};

}  // namespace fnr
