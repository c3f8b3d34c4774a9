#include "supervisor/control_socket.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <future>
#include <memory>
#include <stdexcept>

#include "shared/uv_handles.h"
#include "supervisor/worker_pool.h"

namespace fnr {
namespace {

constexpr size_t kMaxLine = 256;
constexpr uint64_t kProgressMs = 1000;

std::runtime_error sys_error(const std::string& what, const std::string& path) {
  return std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

struct ControlSocket::Conn {
  ControlSocket* owner = nullptr;
  uv_pipe_t* pipe = nullptr;
  std::string in;
  char buf[kMaxLine];
  bool done = false;  // answered or gone: no more commands, no more writes
  // A drain this connection waits for.
  uv_timer_t* timer = nullptr;
  int32_t in_flight_at_start = 0;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

std::string control_socket_path(const std::string& runtime_root, const std::string& name) {
  return runtime_root + "/" + name + ".ctl";
}

ControlSocket::ControlSocket(RunnerContext& ctx, std::string path)
    : ctx_(ctx), path_(std::move(path)) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) {
    throw std::runtime_error("control socket path too long: " + path_);
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_fd_) throw sys_error("socket for", path_);
  // Stale from a runner that died: the instance lock says it is ours now.
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) throw sys_error("cannot remove", path_);
  // Created 0600 from the start (umask), not chmod'ed after a window.
  const mode_t old_mask = ::umask(0177);
  const int rc = ::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (rc != 0) throw sys_error("cannot bind", path_);
  if (::listen(listen_fd_.get(), 8) != 0) throw sys_error("cannot listen on", path_);
  ctx_.on_quiet = [this] { check_drains(); };
}

ControlSocket::~ControlSocket() {
  stop();
  ::unlink(path_.c_str());
}

void ControlSocket::start() {
  started_ = true;
  ctx_.loop->post([this] {
    try {
      server_ = open_pipe_handle(ctx_.loop->loop(), std::move(listen_fd_), this);
    } catch (const std::exception& e) {
      spdlog::error("control socket {}: {}", path_, e.what());
      return;
    }
    if (const int rc = uv_listen(as_stream(server_), 8, on_connection); rc != 0) {
      spdlog::error("control socket {}: uv_listen: {}", path_, uv_strerror(rc));
      return close_and_free(server_);
    }
    spdlog::info("control socket at {}", path_);
  });
}

void ControlSocket::stop() {
  // Never started: nothing on the loop (which may not run) to close.
  if (stopped_ || !started_) return;
  stopped_ = true;
  std::promise<void> done;
  ctx_.loop->post([this, &done] {
    close_and_free(server_);
    const std::unordered_set<Conn*> open(conns_);
    for (Conn* c : open) close(c);
    done.set_value();
  });
  done.get_future().wait();
}

void ControlSocket::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<ControlSocket*>(server->data);
  if (self == nullptr || status != 0) return;
  auto* c = new Conn;
  c->owner = self;
  c->pipe = new uv_pipe_t{};
  uv_pipe_init(self->ctx_.loop->loop(), c->pipe, 0);
  c->pipe->data = c;
  if (uv_accept(server, as_stream(c->pipe)) != 0) {
    // Freed with its handle: no command was read, nothing else holds it.
    uv_close(reinterpret_cast<uv_handle_t*>(c->pipe), [](uv_handle_t* h) {
      auto* conn = static_cast<Conn*>(h->data);
      delete reinterpret_cast<uv_pipe_t*>(h);
      delete conn;
    });
    return;
  }
  self->conns_.insert(c);
  uv_read_start(
      as_stream(c->pipe),
      [](uv_handle_t* h, size_t /*suggested*/, uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(h->data);
        *buf = uv_buf_init(conn->buf, sizeof conn->buf);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(s->data);
        ControlSocket* owner = conn->owner;
        if (n < 0) return owner->close(conn);  // EOF or error: the client left
        if (conn->done) return;
        conn->in.append(buf->base, static_cast<size_t>(n));
        const size_t eol = conn->in.find('\n');
        if (eol == std::string::npos) {
          if (conn->in.size() > kMaxLine) owner->finish(conn, "error: line too long\n");
          return;
        }
        const std::string line = conn->in.substr(0, eol);
        owner->handle(conn, line);
      });
}

void ControlSocket::handle(Conn* c, std::string_view line) {
  if (line == "status") {
    return finish(c, ctx_.stopping.load()   ? "stopping\n"
                     : ctx_.draining.load() ? "draining\n"
                                            : "serving\n");
  }
  if (line == "resume") return resume(c);
  if (line == "drain") {
    return drain(c, std::chrono::seconds(ctx_.config.get()->drain_timeout_s));
  }
  if (line.starts_with("drain ")) {
    const std::string_view arg = line.substr(6);
    uint32_t seconds = 0;
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), seconds);
    if (ec != std::errc{} || end != arg.data() + arg.size()) {
      return finish(c, "error: drain wants a number of seconds\n");
    }
    return drain(c, std::chrono::seconds(seconds));
  }
  spdlog::warn("control socket: unknown command '{}'", line.substr(0, 64));
  finish(c, "error: unknown command (drain [S], resume, status)\n");
}

void ControlSocket::drain(Conn* c, std::chrono::seconds timeout) {
  if (ctx_.stopping.load()) return finish(c, "error: runner is stopping\n");
  c->done = true;  // answers follow; no second command on this connection
  ctx_.draining.store(true);
  // Read after the flag is up: a stream closing from here on sees it and
  // calls on_quiet (RunnerContext::engagement_ended).
  c->in_flight_at_start = ctx_.counters.active.load();
  spdlog::info("drain requested on the control socket: no new calls; {} in flight",
               c->in_flight_at_start);
  ctx_.pool->end_idle("draining");
  write(c, "draining: " + std::to_string(c->in_flight_at_start) + " calls in flight\n");
  if (c->in_flight_at_start == 0) return finish(c, "drained 0 calls\n");
  if (timeout.count() != 0) c->deadline = std::chrono::steady_clock::now() + timeout;
  c->timer = new uv_timer_t{};
  uv_timer_init(ctx_.loop->loop(), c->timer);
  c->timer->data = c;
  uv_timer_start(
      c->timer,
      [](uv_timer_t* t) {
        if (auto* conn = static_cast<Conn*>(t->data)) conn->owner->on_progress(conn);
      },
      kProgressMs, kProgressMs);
  // Streams may have closed between the read and the timer.
  check_drains();
}

void ControlSocket::on_progress(Conn* c) {
  if (!ctx_.draining.load()) return finish(c, "resumed: drain cancelled\n");
  const int32_t left = ctx_.counters.active.load();
  if (left == 0) return check_drains();
  if (std::chrono::steady_clock::now() >= c->deadline) {
    spdlog::warn("drain: {} calls still in flight at the timeout; still draining", left);
    return finish(c, "timeout: " + std::to_string(left) + " calls still in flight\n");
  }
  write(c, "waiting: " + std::to_string(left) + " calls in flight\n");
}

void ControlSocket::check_drains() {
  if (ctx_.counters.active.load() != 0 || !ctx_.draining.load()) return;
  const std::unordered_set<Conn*> open(conns_);
  for (Conn* c : open) {
    if (c->timer == nullptr) continue;
    spdlog::info("drained: {} calls finished, none in flight", c->in_flight_at_start);
    finish(c, "drained " + std::to_string(c->in_flight_at_start) + " calls\n");
  }
}

void ControlSocket::resume(Conn* c) {
  if (ctx_.stopping.load()) return finish(c, "error: runner is stopping\n");
  if (ctx_.draining.exchange(false)) spdlog::info("resumed on the control socket: taking calls");
  // Drains still waiting hear it from their next progress tick.
  finish(c, "resumed\n");
}

void ControlSocket::write(Conn* c, std::string text) {
  struct WriteReq {
    uv_write_t req{};
    std::string text;
  };
  auto* w = new WriteReq;
  w->text = std::move(text);
  const uv_buf_t buf = uv_buf_init(w->text.data(), static_cast<unsigned>(w->text.size()));
  const int rc = uv_write(&w->req, as_stream(c->pipe), &buf, 1, [](uv_write_t* req, int) {
    delete reinterpret_cast<WriteReq*>(req);  // req is WriteReq's first member
  });
  if (rc != 0) delete w;
}

// The last answer: written, then the connection ends once it has gone out.
void ControlSocket::finish(Conn* c, std::string text) {
  c->done = true;
  close_and_free(c->timer);
  write(c, std::move(text));
  auto* req = new uv_shutdown_t{};
  req->data = c;
  const int rc = uv_shutdown(req, as_stream(c->pipe), [](uv_shutdown_t* r, int /*status*/) {
    auto* conn = static_cast<Conn*>(r->data);
    delete r;
    conn->owner->close(conn);
  });
  if (rc != 0) {
    delete req;
    close(c);
  }
}

void ControlSocket::close(Conn* c) {
  if (conns_.erase(c) == 0) return;  // already closing
  close_and_free(c->timer);
  // The Conn goes with its handle: pending write and shutdown callbacks
  // (cancelled by the close) run before the close callback.
  uv_close(reinterpret_cast<uv_handle_t*>(c->pipe), [](uv_handle_t* h) {
    auto* conn = static_cast<Conn*>(h->data);
    delete reinterpret_cast<uv_pipe_t*>(h);
    delete conn;
  });
}

}  // namespace fnr
