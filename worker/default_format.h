#pragma once
// The `default` format: one process per call, request body on stdin,
// response body from stdout (streamed as written), status 200, exit code
// decides success, stderr is the function's log.
#include <uv.h>

#include <memory>

#include "proto/worker.pb.h"
#include "worker/format_run.h"
#include "worker/stdio_container.h"

namespace fnr {

class DefaultFormatRun final : public FormatRun, private StdioContainer::Events {
 public:
  // Starts the function; on failure calls sink->finish() before returning.
  DefaultFormatRun(uv_loop_t* loop, const wire::CallSpec& spec, CallSink* sink,
                   const std::vector<sock_filter>& seccomp);
  ~DefaultFormatRun() override;

  void request_data(std::span<const char> bytes) override;
  void request_eof() override;
  [[nodiscard]] bool request_blocked() const override {
    return io_ && io_->stdin_over_high_watermark();
  }
  void response_unblocked() override;
  void abort() override;

 private:
  // StdioContainer::Events
  void on_stdout(std::string_view bytes) override;
  void on_stdout_eof() override;
  void on_stdin_drained() override;
  void on_stdin_error(int uv_error) override;
  void on_exit(ExitStatus st) override;
  void on_deadline() override;

  void start(const wire::CallSpec& spec, const std::vector<sock_filter>& seccomp);
  void close_stdin();
  void maybe_finish();
  void fail_now(int code, std::string_view message, bool error_user);

  uv_loop_t* loop_;
  CallSink* sink_;
  std::string call_id_;
  uint64_t max_response_bytes_;
  std::unique_ptr<StdioContainer> io_;
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
