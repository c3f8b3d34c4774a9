#pragma once
// The operator's line into a running supervisor: a Unix stream socket at
// <sandbox.runtime_dir>/<ledger name>.ctl, mode 0600 (root only), served
// on the loop thread. One command per connection, one line each way:
//
//   drain [S]  stop taking calls (Engage NACKs), end idle hot containers,
//              and answer once no Engage stream is open: "draining: N calls
//              in flight", "waiting: N calls in flight" every second, then
//              "drained N calls" or, after S seconds (default
//              drain_timeout_s; 0 = no limit), "timeout: N calls still in
//              flight". The runner stays up, draining, either way.
//   resume     take calls again ("resumed"); refused once SIGTERM came.
//   status     "serving", "draining" or "stopping".
//
// fn-runnerctl drain / resume / status speak it.
#include <uv.h>

#include <chrono>
#include <string>
#include <string_view>
#include <unordered_set>

#include "shared/unique_fd.h"
#include "supervisor/runner_context.h"

namespace fnr {

// <runtime_root>/<name>.ctl, the path both sides agree on.
std::string control_socket_path(const std::string& runtime_root, const std::string& name);

class ControlSocket {
 public:
  // Binds and listens at `path`, replacing a stale socket there (the
  // caller holds the instance lock, so nobody else serves it). Throws
  // std::runtime_error naming the path.
  ControlSocket(RunnerContext& ctx, std::string path);
  ~ControlSocket();  // removes the socket file
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  // Starts serving on the loop thread (which must be running).
  void start();
  // Closes the listener and every connection on the loop thread, and waits
  // until that is done; before EventLoop::stop(). Idempotent.
  void stop();

 private:
  struct Conn;

  static void on_connection(uv_stream_t* server, int status);
  void handle(Conn* c, std::string_view line);
  void drain(Conn* c, std::chrono::seconds timeout);
  void resume(Conn* c);
  void check_drains();
  void on_progress(Conn* c);
  void write(Conn* c, std::string text);
  void finish(Conn* c, std::string text);
  void close(Conn* c);

  RunnerContext& ctx_;
  std::string path_;
  UniqueFd listen_fd_;
  // Loop thread only.
  uv_pipe_t* server_ = nullptr;
  std::unordered_set<Conn*> conns_;
  bool started_ = false;  // the caller's thread
  bool stopped_ = false;
};

}  // namespace fnr
