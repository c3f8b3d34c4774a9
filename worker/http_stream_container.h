#pragma once
// The http-stream format (function-contract.md): a hot container whose
// function listens on a Unix socket in /tmp/iofs; each call is an HTTP/1.1
// `POST /call` on one kept-alive connection, one call at a time.
//
// This object is the container's side of it: the process, its socket
// directory and readiness, the connection (reconnected when the function
// closed it), the function's log, and timers. The protocol of one call is
// HttpStreamCall's; it drives the connection through the methods below and
// gets the connection's and the process's events while it is current.
#include <linux/filter.h>
#include <uv.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proto/worker.pb.h"
#include "shared/stream_writer.h"
#include "worker/container.h"
#include "worker/hot_container.h"
#include "worker/http_response_parser.h"
#include "worker/iofs_dir.h"
#include "worker/socket_dir_watch.h"

namespace fnr {

class HttpStreamCall;
class FunctionLog;

class HttpStreamContainer final : public HotContainer {
 public:
  HttpStreamContainer(uv_loop_t* loop, const std::vector<sock_filter>& seccomp, HotLimits limits);
  ~HttpStreamContainer() override;
  HttpStreamContainer(const HttpStreamContainer&) = delete;
  HttpStreamContainer& operator=(const HttpStreamContainer&) = delete;

  // HotContainer
  std::unique_ptr<FormatRun> begin_call(const wire::CallSpec& spec, CallSink* sink) override;
  [[nodiscard]] bool reusable() const override;

  // --- for the current HttpStreamCall ---------------------------------
  [[nodiscard]] bool connected() const { return conn_ != nullptr; }
  [[nodiscard]] const HotLimits& limits() const { return limits_; }
  // Writes to the function's connection (see StreamWriter::write).
  int write(std::string_view a, std::string_view b = {});
  [[nodiscard]] size_t write_queued() const { return writer_.queued(); }
  [[nodiscard]] bool write_over_high_watermark() const { return writer_.over_high_watermark(); }
  void pause_reading();
  void resume_reading();
  // Drops the connection; the next call connects anew. The container
  // stays usable.
  void close_connection();
  // The container is beyond use: kill everything in it now. reusable() is
  // false from here on; the process's exit is still reported.
  void kill();
  [[nodiscard]] bool exited() const { return exited_; }
  [[nodiscard]] bool oom_killed() const { return container_ && container_->oom_killed(); }
  void start_deadline(int64_t deadline_unix_ms);
  // The call finished (or is being destroyed): events are the container's
  // own again until the next begin_call().
  void release(HttpStreamCall* call);

  // Buffers reused call after call, so a hot call allocates (almost)
  // nothing: the request head, request bytes that arrive before the
  // container is ready, the response parser and its header slots.
  std::string& head_buffer() { return head_; }
  std::string& pending_buffer() { return pending_; }
  HttpResponseParser& parser() { return parser_; }
  [[nodiscard]] const std::string& call_id() const { return call_id_; }

 private:
  enum class State {
    kNone,      // never started, or torn down after it ended between calls
    kStarting,  // process running, lsnr.sock not there yet
    kReady,     // listener found; connected, or connectable on demand
    kDead,      // the process exited (or was killed)
  };

  void start(const wire::CallSpec& spec);
  void teardown();
  void on_listener_event();
  void try_connect();
  void ready_failed(int code, std::string_view message, std::string_view why);
  void on_exit(ExitStatus st);
  void on_read(ssize_t n);
  void on_start_timeout();
  void arm_start_timer(uint64_t ms);
  void set_log_tag_idle();

  uv_loop_t* loop_;
  const std::vector<sock_filter>& seccomp_;
  const HotLimits limits_;
  State state_ = State::kNone;
  bool broken_ = false;
  bool exited_ = false;
  bool reading_ = false;
  HttpStreamCall* current_ = nullptr;

  // Declared before container_: the directory outlives the processes that
  // use it (members are destroyed in reverse order).
  std::unique_ptr<IofsDir> iofs_;
  std::unique_ptr<SocketDirWatch> watch_;
  std::unique_ptr<Container> container_;
  std::unique_ptr<FunctionLog> stdout_log_, stderr_log_;
  std::string sandbox_id_;
  UniqueFd socket_inode_;  // the checked listener, O_PATH

  uv_pipe_t* conn_ = nullptr;  // the connection; freed in its close callback
  StreamWriter writer_;
  std::array<char, 65536> read_buf_{};
  HttpResponseParser parser_;

  uv_timer_t* start_timer_ = nullptr;     // limits_.start_timeout, and connect retries
  uv_timer_t* deadline_timer_ = nullptr;  // the current call's deadline
  // In the loop's clock (uv_now), which its timers run on: comparing a
  // timer's firing with another clock can find it a little early.
  uint64_t start_deadline_ms_ = 0;
  std::chrono::steady_clock::time_point started_at_{};  // for the log

  std::string head_, pending_, call_id_;
  std::string log_tag_;  // "call <id>" or "container <sandbox id>"
};

}  // namespace fnr
