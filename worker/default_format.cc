#include "worker/default_format.h"

#include <spdlog/spdlog.h>

namespace fnr {

DefaultFormatRun::DefaultFormatRun(uv_loop_t* loop, const wire::CallSpec& spec, CallSink* sink,
                                   const std::vector<sock_filter>& seccomp)
    : loop_(loop),
      sink_(sink),
      call_id_(spec.id()),
      max_response_bytes_(spec.max_response_bytes()) {
  try {
    start(spec, seccomp);
  } catch (const std::exception& e) {
    spdlog::error("call {}: cannot start function: {}", call_id_, e.what());
    fail_now(500, "could not start function", false);
  }
}

DefaultFormatRun::~DefaultFormatRun() { abort(); }

void DefaultFormatRun::start(const wire::CallSpec& spec, const std::vector<sock_filter>& seccomp) {
  ContainerError error;
  io_ = StdioContainer::start(loop_, spec, seccomp, this, &error);
  if (!io_) {
    spdlog::warn("call {}: {}", call_id_, error.message);
    fail_now(error.code, error.message, error.code == 502);
    return;
  }
  io_->read_stdout();
  io_->arm_deadline(spec.deadline_unix_ms());
}

void DefaultFormatRun::request_data(std::span<const char> bytes) {
  // A function that stopped reading its stdin (closed or exited) simply
  // does not get the rest; the call's outcome is its exit code.
  if (!io_ || !io_->stdin_open() || bytes.empty()) return;
  if (io_->write_stdin(std::string_view(bytes.data(), bytes.size())) != 0) close_stdin();
}

void DefaultFormatRun::request_eof() {
  eof_requested_ = true;
  if (!io_) return;
  if (io_->stdin_queued() == 0) {
    close_stdin();
  } else {
    io_->notify_when_stdin_empty();
  }
}

void DefaultFormatRun::on_stdin_drained() {
  if (eof_requested_ && io_->stdin_queued() == 0) close_stdin();
  sink_->request_unblocked();
}

void DefaultFormatRun::on_stdin_error(int /*uv_error*/) { close_stdin(); }

void DefaultFormatRun::close_stdin() {
  if (!io_ || !io_->stdin_open()) return;
  io_->close_stdin();
  sink_->request_unblocked();
}

void DefaultFormatRun::response_unblocked() {
  if (io_ && !stdout_eof_) io_->read_stdout();
}

void DefaultFormatRun::on_stdout(std::string_view bytes) {
  if (finished_) return;
  response_bytes_ += bytes.size();
  if (max_response_bytes_ != 0 && response_bytes_ > max_response_bytes_) {
    too_large_ = true;
    io_->kill();
    io_->close_stdout();
    stdout_eof_ = true;
    return;
  }
  if (!started_response_) {
    started_response_ = true;
    sink_->result_start(200, {});
  }
  sink_->response_data(bytes);
  if (sink_->response_blocked()) io_->pause_stdout();
}

void DefaultFormatRun::on_stdout_eof() {
  if (finished_) return;
  stdout_eof_ = true;
  maybe_finish();
}

void DefaultFormatRun::on_exit(ExitStatus st) {
  exited_ = true;
  exit_ = st;
  maybe_finish();
}

void DefaultFormatRun::on_deadline() {
  if (finished_ || exited_) return;
  spdlog::info("call {}: deadline passed, killing the function", call_id_);
  timed_out_ = true;
  io_->kill();
}

void DefaultFormatRun::maybe_finish() {
  if (finished_ || !exited_) return;
  // After a kill we know the outcome without waiting for stdout to drain.
  if (timed_out_) return fail_now(504, "Timed out", true);
  if (too_large_) return fail_now(502, "function response body too large", true);
  if (!stdout_eof_) return;
  if (io_->out_of_memory(exit_)) {
    spdlog::info("call {}: function killed by the OOM killer", call_id_);
    return fail_now(502, kOutOfMemoryMessage, true);
  }
  if (!exit_.signaled && exit_.code == 0) {
    if (!started_response_) sink_->result_start(200, {});
    finished_ = true;
    sink_->finish(200, "", false);
    return;
  }
  spdlog::info("call {}: function {} {}", call_id_, exit_.signaled ? "killed by signal" : "exited",
               exit_.code);
  fail_now(502, "function failed", true);
}

void DefaultFormatRun::fail_now(int code, std::string_view message, bool error_user) {
  if (finished_) return;
  finished_ = true;
  sink_->finish(code, message, error_user);
}

void DefaultFormatRun::abort() {
  finished_ = true;
  io_.reset();  // closes the pipes, kills what runs inside, removes the cgroup
}

}  // namespace fnr
