#include "worker/stdio_container.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <chrono>

#include "shared/uv_handles.h"
#include "worker/container_ready.h"
#include "worker/function_env.h"

namespace fnr {
namespace {

// A function that never writes a newline must not grow our memory.
constexpr size_t kMaxLogLine = 4096;

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::unique_ptr<StdioContainer> StdioContainer::start(uv_loop_t* loop, const wire::CallSpec& spec,
                                                      const std::vector<sock_filter>& seccomp,
                                                      Events* events, ContainerError* error) {
  std::unique_ptr<StdioContainer> c(new StdioContainer(loop, events));
  c->log_call_id_ = spec.id();
  StdioContainer* self = c.get();
  c->container_ = Container::start(
      loop, spec, seccomp,
      [&spec](const std::vector<std::string>& image_env) {
        return stdio_format_env(spec, image_env);
      },
      [self](ExitStatus st) {
        self->exited_ = true;
        self->exit_ = st;
        self->events_->on_exit(st);
      },
      error);
  if (!c->container_) return nullptr;
  c->open_pipes();
  note_container_ready();  // a stdio function needs no handshake: running is ready
  return c;
}

StdioContainer::StdioContainer(uv_loop_t* loop, Events* events)
    : loop_(loop),
      events_(events),
      stdin_writer_([this] { events_->on_stdin_drained(); },
                    [this](int err) { events_->on_stdin_error(err); }) {}

StdioContainer::~StdioContainer() {
  close_and_free(deadline_);
  close_stdin();
  close_stdout();
  if (!err_line_.empty()) log_line();
  close_and_free(stderr_);
  container_.reset();  // kills what runs inside, reaps it, removes the cgroup
}

void StdioContainer::open_pipes() {
  ChildProcess& child = container_->process();
  stdin_ = open_pipe_handle(loop_, child.take_stdin(), this);
  stdin_writer_.attach(as_stream(stdin_));
  stdout_ = open_pipe_handle(loop_, child.take_stdout(), this);
  stderr_ = open_pipe_handle(loop_, child.take_stderr(), this);
  uv_read_start(
      as_stream(stderr_),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static thread_local std::array<char, 4096> scratch;
        *buf = uv_buf_init(scratch.data(), scratch.size());
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        if (auto* self = static_cast<StdioContainer*>(s->data)) self->on_stderr_read(n, buf->base);
      });

  deadline_ = new uv_timer_t{};
  uv_timer_init(loop_, deadline_);
  deadline_->data = this;
}

int StdioContainer::write_stdin(std::string_view a, std::string_view b) {
  return stdin_writer_.write(a, b);
}

size_t StdioContainer::stdin_unread() const {
  if (stdin_ == nullptr) return 0;
  uv_os_fd_t fd = -1;
  int in_pipe = 0;
  // FIONREAD works on either end of a pipe: it counts the pipe's buffer.
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(stdin_), &fd) != 0 ||
      ioctl(fd, FIONREAD, &in_pipe) != 0) {
    in_pipe = 0;
  }
  return stdin_writer_.queued() + static_cast<size_t>(std::max(in_pipe, 0));
}

void StdioContainer::close_stdin() {
  if (stdin_ == nullptr) return;
  stdin_writer_.detach();
  close_and_free(stdin_);
}

void StdioContainer::read_stdout() {
  if (stdout_ == nullptr) return;
  uv_read_start(
      as_stream(stdout_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<StdioContainer*>(h->data);
        *buf = uv_buf_init(self->out_buf_.data(), self->out_buf_.size());
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
        if (auto* self = static_cast<StdioContainer*>(s->data)) self->on_stdout_read(n);
      });
}

void StdioContainer::pause_stdout() {
  if (stdout_ != nullptr) uv_read_stop(as_stream(stdout_));
}

void StdioContainer::close_stdout() { close_and_free(stdout_); }

void StdioContainer::on_stdout_read(ssize_t n) {
  if (n == 0) return;
  if (n < 0) {
    close_stdout();
    events_->on_stdout_eof();
    return;
  }
  events_->on_stdout(std::string_view(out_buf_.data(), static_cast<size_t>(n)));
}

void StdioContainer::on_stderr_read(ssize_t n, const char* data) {
  if (n < 0) {
    if (!err_line_.empty()) log_line();
    close_and_free(stderr_);
    return;
  }
  for (ssize_t i = 0; i < n; ++i) {
    if (data[i] == '\n' || err_line_.size() >= kMaxLogLine) {
      log_line();
      if (data[i] == '\n') continue;
    }
    err_line_.push_back(data[i]);
  }
}

void StdioContainer::log_line() {
  spdlog::info("call {}: function: {}", log_call_id_, err_line_);
  err_line_.clear();
}

bool StdioContainer::out_of_memory(const ExitStatus& status) const {
  return status.signaled && status.code == SIGKILL && container_->oom_killed();
}

void StdioContainer::arm_deadline(int64_t deadline_unix_ms) {
  if (deadline_ == nullptr) return;
  const int64_t left_ms = std::max<int64_t>(0, deadline_unix_ms - now_unix_ms());
  uv_timer_start(
      deadline_,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<StdioContainer*>(t->data)) self->events_->on_deadline();
      },
      static_cast<uint64_t>(left_ms), 0);
}

void StdioContainer::disarm_deadline() {
  if (deadline_ != nullptr) uv_timer_stop(deadline_);
}

}  // namespace fnr
