#include "worker/default_format.h"

#include <spdlog/spdlog.h>

#include <signal.h>

#include <chrono>

#include "shared/uv_handles.h"
#include "worker/function_env.h"

namespace fnr {
namespace {

constexpr size_t kMaxLogLine = 4096;

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

DefaultFormatRun::DefaultFormatRun(uv_loop_t* loop, const wire::CallSpec& spec, CallSink* sink,
                                   const std::vector<sock_filter>& seccomp)
    : loop_(loop),
      sink_(sink),
      call_id_(spec.id()),
      max_response_bytes_(spec.max_response_bytes()),
      stdin_writer_([this] { on_stdin_drained(); },
                    [this](int) { close_stdin(); }) {
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
  container_ = Container::start(
      loop_, spec, seccomp,
      [&spec](const std::vector<std::string>& image_env) {
        return stdio_format_env(spec, image_env);
      },
      [this](ExitStatus st) { on_exit(st); }, &error);
  if (!container_) {
    spdlog::warn("call {}: {}", call_id_, error.message);
    fail_now(error.code, error.message, error.code == 502);
    return;
  }
  ChildProcess& child = container_->process();
  stdin_ = open_pipe_handle(loop_, child.take_stdin(), this);
  stdin_writer_.attach(as_stream(stdin_));
  stdout_ = open_pipe_handle(loop_, child.take_stdout(), this);
  stderr_ = open_pipe_handle(loop_, child.take_stderr(), this);
  response_unblocked();  // starts reading stdout
  uv_read_start(
      as_stream(stderr_),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static thread_local std::array<char, 4096> scratch;
        *buf = uv_buf_init(scratch.data(), scratch.size());
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        if (auto* self = static_cast<DefaultFormatRun*>(s->data)) self->on_stderr(n, buf->base);
      });

  deadline_ = new uv_timer_t{};
  uv_timer_init(loop_, deadline_);
  deadline_->data = this;
  const int64_t left_ms = std::max<int64_t>(0, spec.deadline_unix_ms() - now_unix_ms());
  uv_timer_start(
      deadline_,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<DefaultFormatRun*>(t->data)) self->on_deadline();
      },
      static_cast<uint64_t>(left_ms), 0);
}

void DefaultFormatRun::request_data(std::span<const char> bytes) {
  // A function that stopped reading its stdin (closed or exited) simply
  // does not get the rest; the call's outcome is its exit code.
  if (stdin_ == nullptr || bytes.empty()) return;
  if (stdin_writer_.write(std::string_view(bytes.data(), bytes.size())) != 0) close_stdin();
}

void DefaultFormatRun::request_eof() {
  eof_requested_ = true;
  if (stdin_writer_.queued() == 0) {
    close_stdin();
  } else {
    stdin_writer_.notify_when_empty();
  }
}

void DefaultFormatRun::on_stdin_drained() {
  if (eof_requested_ && stdin_writer_.queued() == 0) close_stdin();
  sink_->request_unblocked();
}

void DefaultFormatRun::close_stdin() {
  if (stdin_ == nullptr) return;
  stdin_writer_.detach();
  close_and_free(stdin_);
  sink_->request_unblocked();
}

void DefaultFormatRun::response_unblocked() {
  if (stdout_ == nullptr || stdout_eof_) return;
  uv_read_start(
      as_stream(stdout_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<DefaultFormatRun*>(h->data);
        *buf = uv_buf_init(self->out_buf_.data(), self->out_buf_.size());
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
        if (auto* self = static_cast<DefaultFormatRun*>(s->data)) self->on_stdout(n);
      });
}

void DefaultFormatRun::on_stdout(ssize_t n) {
  if (n == 0 || finished_) return;
  if (n < 0) {
    stdout_eof_ = true;
    close_and_free(stdout_);
    maybe_finish();
    return;
  }
  response_bytes_ += static_cast<uint64_t>(n);
  if (max_response_bytes_ != 0 && response_bytes_ > max_response_bytes_) {
    too_large_ = true;
    container_->kill();
    close_and_free(stdout_);
    stdout_eof_ = true;
    return;
  }
  if (!started_response_) {
    started_response_ = true;
    sink_->result_start(200, {});
  }
  sink_->response_data(std::string_view(out_buf_.data(), static_cast<size_t>(n)));
  if (sink_->response_blocked() && stdout_ != nullptr) uv_read_stop(as_stream(stdout_));
}

void DefaultFormatRun::on_stderr(ssize_t n, const char* data) {
  if (n < 0) {
    if (!err_line_.empty()) spdlog::info("call {}: function: {}", call_id_, err_line_);
    err_line_.clear();
    close_and_free(stderr_);
    return;
  }
  for (ssize_t i = 0; i < n; ++i) {
    if (data[i] == '\n' || err_line_.size() >= kMaxLogLine) {
      spdlog::info("call {}: function: {}", call_id_, err_line_);
      err_line_.clear();
      if (data[i] == '\n') continue;
    }
    err_line_.push_back(data[i]);
  }
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
  container_->kill();
}

void DefaultFormatRun::maybe_finish() {
  if (finished_ || !exited_) return;
  // After a kill we know the outcome without waiting for stdout to drain.
  if (timed_out_) return fail_now(504, "Timed out", true);
  if (too_large_) return fail_now(502, "function response body too large", true);
  if (!stdout_eof_) return;
  if (exit_.signaled && exit_.code == SIGKILL && container_->oom_killed()) {
    spdlog::info("call {}: function killed by the OOM killer", call_id_);
    return fail_now(502, "container out of memory, you may want to raise fn.memory for this function",
                    true);
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
  close_and_free(deadline_);
  stdin_writer_.detach();
  close_and_free(stdin_);
  close_and_free(stdout_);
  close_and_free(stderr_);
  container_.reset();  // kills what runs inside, removes the cgroup
}

}  // namespace fnr
