#include "worker/http_stream_container.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "shared/uv_handles.h"
#include "worker/container_ready.h"
#include "worker/function_env.h"
#include "worker/http_stream_call.h"

namespace fnr {
namespace {

constexpr size_t kMaxLogLine = 4096;
// A function that binds lsnr.sock itself (no symlink dance) is briefly
// bound but not listening; the first connect() may be refused then.
constexpr std::chrono::milliseconds kConnectRetry{2};

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uv_timer_t* make_timer(uv_loop_t* loop, void* data) {
  auto* t = new uv_timer_t{};
  uv_timer_init(loop, t);
  t->data = data;
  return t;
}

}  // namespace

// The function's stdout and stderr are its log (http-stream answers over
// the socket): read line by line and logged under the current call's id,
// so a full pipe never stalls the function.
class FunctionLog {
 public:
  FunctionLog(uv_loop_t* loop, UniqueFd fd, const std::string* tag)
      : pipe_(open_pipe_handle(loop, std::move(fd), this)), tag_(tag) {
    uv_read_start(
        as_stream(pipe_),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static std::array<char, 4096> scratch;
          *buf = uv_buf_init(scratch.data(), scratch.size());
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          if (auto* self = static_cast<FunctionLog*>(s->data)) self->on_read(n, buf->base);
        });
  }
  ~FunctionLog() {
    flush();
    close_and_free(pipe_);
  }
  FunctionLog(const FunctionLog&) = delete;
  FunctionLog& operator=(const FunctionLog&) = delete;

 private:
  void on_read(ssize_t n, const char* data) {
    if (n < 0) {
      flush();
      close_and_free(pipe_);
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (data[i] == '\n' || line_.size() >= kMaxLogLine) {
        flush();
        if (data[i] == '\n') continue;
      }
      line_.push_back(data[i]);
    }
  }
  void flush() {
    if (!line_.empty()) spdlog::info("{}: function: {}", *tag_, line_);
    line_.clear();
  }

  uv_pipe_t* pipe_;
  const std::string* tag_;
  std::string line_;
};

HttpStreamContainer::HttpStreamContainer(uv_loop_t* loop, const std::vector<sock_filter>& seccomp,
                                         HotLimits limits)
    : loop_(loop),
      seccomp_(seccomp),
      limits_(limits),
      writer_(
          [this] {
            if (current_ != nullptr) current_->on_write_drained();
          },
          [this](int) {
            if (current_ != nullptr) current_->on_write_failed();
          }),
      parser_(limits.max_response_header_bytes),
      start_timer_(make_timer(loop, this)),
      deadline_timer_(make_timer(loop, this)) {}

HttpStreamContainer::~HttpStreamContainer() {
  // The session destroys its run first; should one still be current, it
  // must not outlive us holding a pointer here.
  if (current_ != nullptr) current_->abort();
  close_and_free(start_timer_);
  close_and_free(deadline_timer_);
  teardown();
}

std::unique_ptr<FormatRun> HttpStreamContainer::begin_call(const wire::CallSpec& spec,
                                                           CallSink* sink) {
  if (current_ != nullptr) current_->abort();  // never: calls come one at a time
  call_id_.assign(spec.id());
  log_tag_.assign("call ").append(spec.id());
  auto call = std::make_unique<HttpStreamCall>(this, spec, sink);
  current_ = call.get();
  // A function that exited between calls (not killed by us: then the
  // session would have ended) is replaced by a fresh one for this call.
  if (state_ == State::kDead) teardown();
  switch (state_) {
    case State::kNone:
      start(spec);
      break;
    case State::kReady:
      if (conn_ == nullptr) {
        try_connect();
      } else {
        current_->on_container_ready();
      }
      break;
    case State::kStarting:  // never between calls: starts end in kReady or kDead
    case State::kDead:
      break;
  }
  return call;
}

bool HttpStreamContainer::reusable() const {
  return state_ == State::kReady && !broken_ && !exited_;
}

void HttpStreamContainer::start(const wire::CallSpec& spec) {
  const wire::SandboxSettings& sb = spec.sandbox();
  sandbox_id_ = sb.id();
  broken_ = false;
  exited_ = false;
  try {
    iofs_ = std::make_unique<IofsDir>(sb.runtime_dir(), sb.id(), sb.uid(), sb.gid());
    // Watch before the function runs, so its lsnr.sock cannot be missed.
    watch_ = std::make_unique<SocketDirWatch>(loop_, iofs_->path(), kListenerName,
                                              [this] { on_listener_event(); });
  } catch (const std::exception& e) {
    spdlog::error("call {}: cannot prepare the socket directory: {}", call_id_, e.what());
    teardown();
    current_->on_start_failed(500, "could not start function", false);
    return;
  }
  // Development mode (no sandbox) runs the function on the host, where the
  // directory is at its host path.
  const std::string listener = sb.enabled() ? std::string("/tmp/iofs/") + kListenerName
                                            : iofs_->path() + "/" + kListenerName;
  std::vector<BindMount> binds;
  if (sb.enabled()) binds.push_back({iofs_->path(), "/tmp/iofs"});
  ContainerError error;
  container_ = Container::start(
      loop_, spec, seccomp_,
      [&](const std::vector<std::string>& image_env) {
        return http_stream_env(spec, image_env, listener);
      },
      [this](ExitStatus st) { on_exit(st); }, &error, binds);
  if (!container_) {
    spdlog::warn("call {}: {}", call_id_, error.message);
    teardown();
    current_->on_start_failed(error.code, error.message, error.code == 502);
    return;
  }
  try {
    ChildProcess& p = container_->process();
    p.take_stdin();  // closed: http-stream functions get nothing on stdin
    stdout_log_ = std::make_unique<FunctionLog>(loop_, p.take_stdout(), &log_tag_);
    stderr_log_ = std::make_unique<FunctionLog>(loop_, p.take_stderr(), &log_tag_);
  } catch (const std::exception& e) {
    spdlog::error("call {}: {}", call_id_, e.what());
    kill();
    current_->on_start_failed(500, "could not start function", false);
    return;
  }
  state_ = State::kStarting;
  started_at_ = std::chrono::steady_clock::now();
  uv_update_time(loop_);
  start_deadline_ms_ = uv_now(loop_) + static_cast<uint64_t>(limits_.start_timeout.count());
  arm_start_timer(static_cast<uint64_t>(limits_.start_timeout.count()));
  // The watch predates the process, so nothing was missed; looking once is
  // the watch's contract all the same, and costs one openat().
  on_listener_event();
}

void HttpStreamContainer::on_listener_event() {
  if (state_ != State::kStarting || socket_inode_) return;
  std::string why;
  switch (inspect_listener(iofs_->fd(), &socket_inode_, &why)) {
    case ListenerState::kAbsent:
      return;
    case ListenerState::kInvalid:
      return ready_failed(502, "Container failed to initialize", why);
    case ListenerState::kReady:
      watch_->stop();
      return try_connect();
  }
}

void HttpStreamContainer::try_connect() {
  int err = 0;
  UniqueFd fd = connect_listener(socket_inode_, &err);
  if (!fd) {
    if (state_ == State::kStarting && (err == ECONNREFUSED || err == EAGAIN)) {
      const uint64_t now = uv_now(loop_);
      const uint64_t left = start_deadline_ms_ > now ? start_deadline_ms_ - now : 0;
      arm_start_timer(std::min<uint64_t>(left, kConnectRetry.count()));
      return;
    }
    const std::string why = std::string("connect to lsnr.sock: ") + std::strerror(err);
    if (state_ == State::kStarting) return ready_failed(502, "Container failed to initialize", why);
    // It accepted before and refuses now: the function is broken.
    spdlog::warn("{}: {}", log_tag_, why);
    kill();
    if (current_ != nullptr)
      current_->on_start_failed(502, "error receiving function response", true);
    return;
  }
  try {
    conn_ = open_pipe_handle(loop_, std::move(fd), this);
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", log_tag_, e.what());
    kill();
    if (current_ != nullptr) current_->on_start_failed(500, "could not connect to function", false);
    return;
  }
  writer_.attach(as_stream(conn_));
  if (state_ == State::kStarting) {
    state_ = State::kReady;
    uv_timer_stop(start_timer_);
    note_container_ready();
    const auto took = std::chrono::steady_clock::now() - started_at_;
    spdlog::debug("{}: container ready in {} us", log_tag_,
                  std::chrono::duration_cast<std::chrono::microseconds>(took).count());
  }
  resume_reading();
  if (current_ != nullptr) current_->on_container_ready();
}

void HttpStreamContainer::arm_start_timer(uint64_t ms) {
  uv_timer_start(
      start_timer_,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<HttpStreamContainer*>(t->data)) self->on_start_timeout();
      },
      ms, 0);
}

void HttpStreamContainer::on_start_timeout() {
  if (state_ != State::kStarting) return;
  const uint64_t now = uv_now(loop_);
  if (now >= start_deadline_ms_) {
    return ready_failed(504, "Container initialization timed out",
                        "no usable lsnr.sock within the start timeout");
  }
  if (socket_inode_) return try_connect();  // a refused connect, retried
  arm_start_timer(start_deadline_ms_ - now);
}

void HttpStreamContainer::ready_failed(int code, std::string_view message, std::string_view why) {
  spdlog::warn("{}: {} ({})", log_tag_, message, why);
  kill();
  if (current_ != nullptr) current_->on_start_failed(code, message, true);
}

void HttpStreamContainer::on_exit(ExitStatus st) {
  const State was = state_;
  exited_ = true;
  state_ = State::kDead;
  uv_timer_stop(start_timer_);
  if (watch_) watch_->stop();
  if (!broken_) {
    spdlog::info("{}: function {} {}", log_tag_, st.signaled ? "killed by signal" : "exited",
                 st.code);
  }
  if (was == State::kStarting && !broken_) {
    // Exited before its listener was up: an init failure (or the OOM killer).
    const bool oom = oom_killed();
    kill();
    if (current_ != nullptr) {
      current_->on_start_failed(
          502,
          oom ? "container out of memory, you may want to raise fn.memory for this function"
              : "Container failed to initialize",
          true);
    }
    return;
  }
  if (current_ != nullptr) return current_->on_container_exit();
  // Between calls: nothing to answer. The next call starts a fresh one.
  close_connection();
}

void HttpStreamContainer::kill() {
  broken_ = true;
  if (container_) container_->kill();
  close_connection();
  uv_timer_stop(start_timer_);
  if (watch_) watch_->stop();
}

void HttpStreamContainer::teardown() {
  close_connection();
  stdout_log_.reset();
  stderr_log_.reset();
  watch_.reset();
  container_.reset();  // kills and reaps what runs inside, removes the cgroup
  iofs_.reset();       // then the socket directory
  socket_inode_.reset();
  state_ = State::kNone;
  exited_ = false;
  broken_ = false;
}

// --- the connection -----------------------------------------------------------

int HttpStreamContainer::write(std::string_view a, std::string_view b) {
  return writer_.write(a, b);
}

void HttpStreamContainer::pause_reading() {
  if (conn_ == nullptr || !reading_) return;
  reading_ = false;
  uv_read_stop(as_stream(conn_));
}

void HttpStreamContainer::resume_reading() {
  if (conn_ == nullptr || reading_) return;
  reading_ = true;
  uv_read_start(
      as_stream(conn_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<HttpStreamContainer*>(h->data);
        *buf = uv_buf_init(self->read_buf_.data(), self->read_buf_.size());
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
        if (auto* self = static_cast<HttpStreamContainer*>(s->data)) self->on_read(n);
      });
}

void HttpStreamContainer::close_connection() {
  if (conn_ == nullptr) return;
  writer_.detach();  // queued writes are dropped with the socket
  close_and_free(conn_);
  reading_ = false;
}

void HttpStreamContainer::on_read(ssize_t n) {
  if (n == 0) return;
  if (n < 0) {
    if (n != UV_EOF)
      spdlog::debug("{}: connection read: {}", log_tag_, uv_strerror(static_cast<int>(n)));
    close_connection();
    if (current_ != nullptr) current_->on_connection_closed();
    return;
  }
  if (current_ != nullptr) {
    current_->on_response_bytes(std::string_view(read_buf_.data(), static_cast<size_t>(n)));
    return;
  }
  // Between calls nobody asked for anything: the function is out of step
  // with the protocol. A fresh connection for the next call starts clean.
  spdlog::warn("{}: {} unasked bytes from the function between calls; reconnecting", log_tag_, n);
  close_connection();
}

// --- calls --------------------------------------------------------------------

void HttpStreamContainer::start_deadline(int64_t deadline_unix_ms) {
  const int64_t left_ms = std::max<int64_t>(0, deadline_unix_ms - now_unix_ms());
  uv_update_time(loop_);  // timers count from the loop's cached time
  uv_timer_start(
      deadline_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<HttpStreamContainer*>(t->data);
        if (self != nullptr && self->current_ != nullptr) self->current_->on_deadline();
      },
      static_cast<uint64_t>(left_ms), 0);
}

void HttpStreamContainer::release(HttpStreamCall* call) {
  if (current_ != call) return;
  current_ = nullptr;
  uv_timer_stop(deadline_timer_);
  set_log_tag_idle();
  // Idle, we still read: that is how a close or stray bytes are noticed.
  resume_reading();
}

void HttpStreamContainer::set_log_tag_idle() { log_tag_.assign("container ").append(sandbox_id_); }

}  // namespace fnr
