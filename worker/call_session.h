#pragma once
// One call as the worker sees it: frames from the supervisor in, frames
// back out, a FormatRun in between. The session never decides an outcome
// itself except for protocol errors; the format does.
#include <uv.h>

#include <linux/filter.h>

#include <memory>
#include <vector>

#include "proto/worker.pb.h"
#include "shared/frame_stream.h"
#include "worker/format_run.h"
#include "worker/hot_container.h"

namespace fnr {

class CallSession final : public FrameStream::Handler, public CallSink {
 public:
  CallSession(uv_loop_t* loop, UniqueFd supervisor_socket,
              const std::vector<sock_filter>& seccomp);
  ~CallSession() override;

  // FrameStream::Handler
  void on_frame(FrameType type, std::span<const char> payload) override;
  void on_stream_closed(const std::string& reason) override;
  void on_drain() override;

  // CallSink
  void result_start(int status, const HeaderList& headers) override;
  void response_data(std::string_view bytes) override;
  [[nodiscard]] bool response_blocked() const override { return link_.over_high_watermark(); }
  void request_unblocked() override;
  void finish(int code, std::string_view message, bool error_user) override;

 private:
  void start_call(std::span<const char> payload);
  void protocol_error(const std::string& why);
  // Sends a frame; on failure ends the session and returns false.
  bool send(FrameType type, std::string_view payload);
  // Leaves uv_run(); main() then destroys the session, which ends the
  // function if it still runs.
  void stop();

  uv_loop_t* loop_;
  const std::vector<sock_filter>& seccomp_;
  FrameStream link_;
  wire::CallSpec spec_;
  std::unique_ptr<HotContainer> hot_;  // survives calls (hot formats)
  std::unique_ptr<FormatRun> run_;     // the current (or last) call
  bool have_spec_ = false;             // a call is in progress
  bool finished_ = false;
  bool exiting_ = false;  // the last call is done and no container stays
  int64_t started_ns_ = 0;
};

}  // namespace fnr
