#pragma once
// The `default` format: one process per call, request body on stdin,
// response body from stdout (streamed as written), status 200, exit code
// decides success, stderr is the function's log.
#include <uv.h>

#include <array>
#include <memory>

#include "proto/worker.pb.h"
#include "worker/container.h"
#include "worker/format_run.h"
#include "shared/stream_writer.h"

namespace fnr {

class DefaultFormatRun final : public FormatRun {
 public:
  // Starts the function; on failure calls sink->finish() before returning.
  DefaultFormatRun(uv_loop_t* loop, const wire::CallSpec& spec, CallSink* sink,
                   const std::vector<sock_filter>& seccomp);
  ~DefaultFormatRun() override;

  void request_data(std::span<const char> bytes) override;
  void request_eof() override;
  [[nodiscard]] bool request_blocked() const override { return stdin_writer_.over_high_watermark(); }
  void response_unblocked() override;
  void abort() override;

 private:
  void start(const wire::CallSpec& spec, const std::vector<sock_filter>& seccomp);
  void on_stdout(ssize_t n);
  void on_stderr(ssize_t n, const char* data);
  void on_exit(ExitStatus st);
  void on_deadline();
  void close_stdin();
  void on_stdin_drained();
  void maybe_finish();
  void fail_now(int code, std::string_view message, bool error_user);

  uv_loop_t* loop_;
  CallSink* sink_;
  std::string call_id_;
  uint64_t max_response_bytes_;
  std::unique_ptr<Container> container_;
  uv_pipe_t* stdin_ = nullptr;
  uv_pipe_t* stdout_ = nullptr;
  uv_pipe_t* stderr_ = nullptr;
  uv_timer_t* deadline_ = nullptr;
  StreamWriter stdin_writer_;
  std::array<char, 65536> out_buf_{};
  std::string err_line_;
  uint64_t response_bytes_ = 0;
  bool started_response_ = false;
  bool stdout_eof_ = false;
  bool exited_ = false;
  bool eof_requested_ = false;
  bool timed_out_ = false;
  bool too_large_ = false;
  bool finished_ = false;
  ExitStatus exit_{};
};

}  // namespace fnr
