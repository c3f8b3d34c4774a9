#include "supervisor/engagement.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include "shared/uv_handles.h"
#include "supervisor/call_spec.h"
#include "supervisor/go_duration.h"

namespace fnr {
namespace {

constexpr auto kBusyCode = static_cast<grpc::StatusCode>(503);
// How long past the call's deadline the worker gets to report its own
// timeout before the supervisor kills it.
constexpr uint64_t kDeadlineGraceMs = 1000;

int64_t ns_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

}  // namespace

grpc::ServerBidiReactor<ClientMsg, RunnerMsg>* Engagement::create(
    RunnerContext& ctx, std::chrono::system_clock::time_point client_deadline) {
  auto e = std::make_shared<Engagement>(ctx);
  e->client_deadline_ = client_deadline;
  e->grpc_ref_ = e;
  e->read_next();
  return e.get();
}

Engagement::Engagement(RunnerContext& ctx) : ctx_(ctx) { ctx_.counters.active.fetch_add(1); }

Engagement::~Engagement() {
  close_and_free(timer_);
  if (link_) link_->close();
  // Never reached with a live worker (the loop holds us until it exits),
  // but if it were, WorkerProcess's destructor kills and reaps it.
  if (reservation_) ctx_.ledger->release(*reservation_);
}

// ============================ gRPC side ====================================

// gRPC may run a reaction on the thread that starts an operation, so no
// Start*/Finish call happens under mu_: the flags decide under the lock,
// the call is made after it. `writing_` makes one thread the writer, and a
// deque keeps &out_.front() valid while others push_back.
void Engagement::read_next() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_called_ || finish_requested_ || cancelled_ || read_pending_) return;
    read_pending_ = true;
  }
  StartRead(&in_);
}

void Engagement::OnReadDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    read_pending_ = false;
  }
  if (!ok) {
    // The client half-closed or went away. Before a Try there is no call.
    if (!call_) {
      finish_after_writes(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected a try message"));
    } else if (!eof_seen_.exchange(true)) {
      // Half-closed without an eof frame: the body is complete all the same.
      ctx_.loop->post([self = shared_from_this()] { self->loop_request_eof(); });
    }
    return;
  }
  if (!call_) {
    if (in_.body_case() != ClientMsg::kTry) {
      spdlog::warn("engage: first message is not a try");
      return nack("protocol error: expected a try message");
    }
    return handle_try(in_.try_());
  }
  if (in_.body_case() != ClientMsg::kData) {
    // A second Try: the spec allows one call per stream.
    spdlog::warn("call {}: protocol error: unexpected message after the try", call_->id);
    ctx_.loop->post([self = shared_from_this()] {
      self->complete(false, 400, "protocol error: expected data", false, 0);
      self->stop_worker();
    });
    return;
  }
  forward_data(in_.mutable_data());
}

void Engagement::handle_try(const TryCall& t) {
  received_at_ = Clock::now();
  created_wall_ = std::chrono::system_clock::now();
  ctx_.counters.requests_received.fetch_add(1);
  if (ctx_.draining.load()) return nack("runner is shutting down");

  CallParse parsed = parse_call(t.models_call_json(), ctx_.config.call_limits);
  if (!parsed.call) {
    spdlog::warn("call {}: rejected: {}", peek_call_id(t.models_call_json()), parsed.error);
    return nack(parsed.error);
  }
  call_ = std::move(parsed.call);
  if (call_->memory_mib > ctx_.ledger->total_mib()) {
    return nack("invalid call: memory " + std::to_string(call_->memory_mib) +
                " MiB exceeds the runner's total " + std::to_string(ctx_.ledger->total_mib()) +
                " MiB");
  }
  reservation_ = ctx_.ledger->reserve(call_->id, call_->memory_mib);
  if (!reservation_) {
    spdlog::info("call {}: NACK, {} MiB requested, {} of {} MiB free", call_->id,
                 call_->memory_mib, ctx_.ledger->total_mib() - ctx_.ledger->reserved_mib(),
                 ctx_.ledger->total_mib());
    return nack("server too busy: not enough memory capacity for " +
                std::to_string(call_->memory_mib) + " MiB");
  }
  reserved_at_ = Clock::now();
  ctx_.counters.requests_handled.fetch_add(1);

  RunnerMsg ack;
  auto* a = ack.mutable_acknowledged();
  a->set_committed(true);
  a->set_details(call_->id);
  a->set_slot_allocation_latency(go_duration(ns_between(received_at_, reserved_at_)));
  send(std::move(ack));

  // Spawning here, on a gRPC thread, keeps the loop thread free while the
  // kernel builds the process.
  SpawnedWorker w;
  try {
    w = spawn_worker(ctx_.worker_path, ctx_.config.log_level, ctx_.seccomp_fd);
  } catch (const std::exception& ex) {
    spdlog::error("call {}: cannot start a worker: {}", call_->id, ex.what());
    ctx_.ledger->release(*reservation_);
    reservation_.reset();
    RunnerMsg fin;
    fin.mutable_finished()->set_success(false);
    fin.mutable_finished()->set_details("500:could not start a worker");
    fin.mutable_finished()->set_error_code(500);
    fin.mutable_finished()->set_error_str("could not start a worker");
    send(std::move(fin));
    finish_after_writes(grpc::Status::OK);
    return;
  }
  ctx_.ledger->set_owner(*reservation_, w.pid, ReservationState::kRunning);
  // std::function needs copyable captures; the fds travel in a shared_ptr.
  ctx_.loop->post([self = shared_from_this(), w = std::make_shared<SpawnedWorker>(std::move(w))] {
    self->loop_start(std::move(*w));
  });
  read_next();
}

void Engagement::nack(const std::string& reason) {
  RunnerMsg m;
  m.mutable_acknowledged()->set_committed(false);
  m.mutable_acknowledged()->set_details(reason);
  send(std::move(m));
  // The May-2018 LB ignores the ack: only this status makes it retry.
  finish_after_writes(grpc::Status(kBusyCode, reason));
}

void Engagement::forward_data(DataFrame* frame) {
  if (eof_seen_.load()) return;
  if (frame->eof()) eof_seen_.store(true);
  received_bytes_ += frame->data().size();
  const bool too_large = ctx_.config.max_request_bytes != 0 &&
                         received_bytes_ > ctx_.config.max_request_bytes;
  // Moving the bytes out leaves `in_` free for the next read without a copy.
  ctx_.loop->post([self = shared_from_this(), data = std::move(*frame->mutable_data()),
                   eof = frame->eof(), too_large] {
    if (too_large) {
      self->complete(false, 413, "request body too large", true, 0);
      self->stop_worker();
      return;
    }
    if (!data.empty()) self->loop_request_data(data);
    if (eof) self->loop_request_eof();
  });
  // The next read is asked for by the loop once the worker took this one.
}

void Engagement::send(RunnerMsg&& msg) {
  const RunnerMsg* start = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_called_ || finish_requested_ || cancelled_) return;
    out_bytes_ += msg.ByteSizeLong();
    out_.push_back(std::move(msg));
    if (!writing_) {
      writing_ = true;
      start = &out_.front();
    }
  }
  if (start != nullptr) StartWrite(start);
}

void Engagement::finish_after_writes(const grpc::Status& status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_called_ || finish_requested_) return;
    finish_requested_ = true;
    final_status_ = status;
    if (writing_) return;  // OnWriteDone finishes after the last write
    finish_called_ = true;
  }
  Finish(status);
}

bool Engagement::writes_over_watermark() {
  std::lock_guard<std::mutex> lock(mu_);
  if (out_bytes_ >= kWriteHighWatermark) {
    wants_drain_ = true;
    return true;
  }
  return false;
}

void Engagement::OnWriteDone(bool ok) {
  const RunnerMsg* next = nullptr;
  bool finish = false;
  bool drained = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out_bytes_ -= out_.front().ByteSizeLong();
    out_.pop_front();
    writing_ = false;
    if (!ok || cancelled_) {
      // The stream is broken or cancelled: what is queued will never go.
      out_.clear();
      out_bytes_ = 0;
    }
    if (!out_.empty()) {
      writing_ = true;
      next = &out_.front();
    } else if (finish_requested_ && !finish_called_) {
      finish_called_ = true;
      finish = true;
    }
    if (wants_drain_ && out_bytes_ <= kWriteLowWatermark) {
      wants_drain_ = false;
      drained = true;
    }
  }
  if (next != nullptr) StartWrite(next);
  if (finish) Finish(final_status_);
  if (drained) ctx_.loop->post([self = shared_from_this()] { self->loop_writes_drained(); });
}

void Engagement::OnCancel() {
  bool finish = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (!finish_called_) {
      final_status_ = grpc::Status::CANCELLED;
      finish_requested_ = true;
      // With a write in flight, OnWriteDone finishes; its message must stay.
      if (!writing_) {
        finish_called_ = true;
        finish = true;
      }
    }
  }
  if (finish) Finish(grpc::Status::CANCELLED);
  if (call_) ctx_.loop->post([self = shared_from_this()] { self->loop_client_gone(); });
}

void Engagement::OnDone() {
  ctx_.counters.active.fetch_sub(1);
  std::shared_ptr<Engagement> last;
  std::lock_guard<std::mutex> lock(mu_);
  last = std::move(grpc_ref_);  // may free us after the lock is released
  // Capacity of a call that never got a worker goes back here; one with a
  // worker is released by the loop when the worker is gone.
}

// ============================ loop side ====================================

void Engagement::loop_start(SpawnedWorker w) {
  loop_ref_ = shared_from_this();
  started_at_ = Clock::now();
  timer_ = new uv_timer_t{};
  uv_timer_init(ctx_.loop->loop(), timer_);
  timer_->data = this;
  {
    std::lock_guard<std::mutex> lock(ctx_.workers_mu);
    ++ctx_.live_workers;
  }
  ctx_.with_worker.insert(this);
  worker_ = std::make_unique<WorkerProcess>(ctx_.loop->loop(), w.pid, std::move(w.pidfd),
                                            [this](int status) { on_worker_exit(status); });
  try {
    link_ = std::make_unique<FrameStream>(ctx_.loop->loop(), std::move(w.socket), this);
  } catch (const std::exception& ex) {
    spdlog::error("call {}: worker link: {}", call_->id, ex.what());
    complete(false, 500, "runner fault: worker link failed", false, 0);
    stop_worker();
    return;
  }
  sandbox_id_ = ctx_.instance_id + "-" + std::to_string(ctx_.next_sandbox.fetch_add(1));
  const wire::CallSpec spec =
      make_call_spec(*call_, ctx_.config, ctx_.cgroups, sandbox_id_, created_wall_,
                     client_deadline_);
  link_->send(FrameType::kCallSpec, spec.SerializeAsString());
  link_->start_reading();

  uv_timer_start(
      timer_,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<Engagement*>(t->data)) self->on_deadline();
      },
      static_cast<uint64_t>(call_->timeout_s) * 1000 + kDeadlineGraceMs, 0);
  if (client_gone_) stop_worker();
}

void Engagement::loop_request_data(const std::string& data) {
  request_bytes_ += data.size();
  if (!link_ || completed_) return read_next();
  for (size_t off = 0; off < data.size(); off += kDataChunk) {
    link_->send(FrameType::kRequestData,
                std::string_view(data).substr(off, std::min(kDataChunk, data.size() - off)));
  }
  if (!link_->over_high_watermark()) read_next();
}

void Engagement::loop_request_eof() {
  if (link_ && !completed_) link_->send(FrameType::kRequestEof, {});
}

void Engagement::on_drain() {
  // The worker took the request bytes we had queued: ask gRPC for more.
  if (!eof_seen_.load()) read_next();
}

void Engagement::loop_writes_drained() {
  if (link_ && link_->open() && !completed_) link_->start_reading();
}

void Engagement::loop_client_gone() {
  client_gone_ = true;
  if (!completed_) {
    result_code_ = 499;
    result_message_ = "client cancelled";
    completed_ = true;
  }
  stop_worker();
}

void Engagement::on_frame(FrameType type, std::span<const char> payload) {
  if (completed_) return;
  switch (type) {
    case FrameType::kResultStart: return on_result_start(payload);
    case FrameType::kResponseData: return on_response_data(payload);
    case FrameType::kFinished: return on_finished(payload);
    default:
      spdlog::error("call {}: worker protocol error: unexpected {} frame", call_->id,
                    frame_type_name(type));
      complete(false, 500, "runner fault: worker protocol error", false, 0);
      stop_worker();
  }
}

void Engagement::on_result_start(std::span<const char> payload) {
  wire::ResultStart rs;
  if (result_started_ || !rs.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    spdlog::error("call {}: worker sent a bad result start", call_->id);
    complete(false, 500, "runner fault: worker protocol error", false, 0);
    return stop_worker();
  }
  result_started_ = true;
  RunnerMsg m;
  auto* http = m.mutable_result_start()->mutable_http();
  http->set_status_code(rs.status_code());
  for (const auto& h : rs.headers()) {
    for (const auto& v : h.values()) {
      auto* out = http->add_headers();
      out->set_key(h.key());
      out->set_value(v);
    }
  }
  send(std::move(m));
}

void Engagement::on_response_data(std::span<const char> payload) {
  if (!result_started_) {
    complete(false, 500, "runner fault: worker protocol error", false, 0);
    return stop_worker();
  }
  response_bytes_ += payload.size();
  RunnerMsg m;
  m.mutable_data()->set_data(payload.data(), payload.size());
  send(std::move(m));
  // A slow LB: stop reading the worker until gRPC has written what we gave.
  if (writes_over_watermark()) link_->stop_reading();
}

void Engagement::on_finished(std::span<const char> payload) {
  wire::Finished f;
  if (!f.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    complete(false, 500, "runner fault: worker protocol error", false, 0);
    return stop_worker();
  }
  complete(f.success(), f.code(), f.message(), f.error_user(), f.execution_ns());
}

void Engagement::on_stream_closed(const std::string& reason) {
  if (!completed_) spdlog::debug("call {}: worker link closed: {}", call_->id, reason);
  link_->close();
  maybe_end();
}

void Engagement::on_worker_exit(int wait_status) {
  worker_status_ = wait_status;
  maybe_end();
}

// The call is over when the worker is gone AND its socket is read to the
// end: a worker may exit while its last frames (FINISHED among them) still
// sit unread in the socket because a slow LB paused our reading.
void Engagement::maybe_end() {
  if (ended_ || !worker_ || !worker_->exited() || (link_ && link_->open())) return;
  if (!completed_) {
    spdlog::error("call {}: worker {} died ({}) before finishing the call", call_->id,
                  worker_->pid(),
                  WIFSIGNALED(worker_status_)
                      ? "signal " + std::to_string(WTERMSIG(worker_status_))
                      : "exit " + std::to_string(WEXITSTATUS(worker_status_)));
    complete(false, 502, "function runner crashed", false, 0);
  }
  end_call();
}

void Engagement::on_deadline() {
  if (!completed_) {
    spdlog::warn("call {}: worker missed the deadline, killing it", call_->id);
    complete(false, 504, "Timed out", true, 0);
  }
  stop_worker();
}

void Engagement::complete(bool success, int code, const std::string& message, bool error_user,
                          int64_t execution_ns) {
  if (completed_) return;
  completed_ = true;
  result_code_ = code;
  result_message_ = message;
  execution_ns_ = execution_ns;
  if (success) {
    if (!result_started_) {
      RunnerMsg rs;
      rs.mutable_result_start()->mutable_http()->set_status_code(200);
      send(std::move(rs));
    }
    RunnerMsg eof;
    eof.mutable_data()->set_eof(true);
    send(std::move(eof));
  }
  RunnerMsg m;
  auto* f = m.mutable_finished();
  f->set_success(success);
  f->set_details(success ? call_->id : std::to_string(code) + ":" + message);
  f->set_error_code(success ? 0 : code);
  f->set_error_str(success ? "" : message);
  f->set_error_user(error_user);
  f->set_image(call_->image);
  f->set_scheduler_duration(ns_between(received_at_, started_at_));
  f->set_execution_duration(execution_ns);
  send(std::move(m));
  finish_after_writes(grpc::Status::OK);
}

void Engagement::stop_worker() {
  if (!worker_) return;
  // Closing the socket makes the worker end its function and exit; the
  // timer turns into a kill in case it does not.
  if (link_) link_->close();
  if (worker_->exited()) return maybe_end();
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    uv_timer_start(
        timer_,
        [](uv_timer_t* t) {
          if (auto* self = static_cast<Engagement*>(t->data)) self->worker_->kill();
        },
        ctx_.config.kill_grace_ms, 0);
  }
}

void Engagement::abort_call(int code, const std::string& message) {
  complete(false, code, message, false, 0);
  if (worker_) worker_->kill();
}

void Engagement::end_call() {
  ended_ = true;
  close_and_free(timer_);
  if (link_) link_->close();
  // A worker that died abruptly could not remove its container's cgroup.
  if (ctx_.cgroups.version != 0) Cgroup::remove_stale(ctx_.cgroups, sandbox_id_);
  if (reservation_) {
    ctx_.ledger->release(*reservation_);
    reservation_.reset();
  }
  log_end();
  ctx_.with_worker.erase(this);
  {
    std::lock_guard<std::mutex> lock(ctx_.workers_mu);
    --ctx_.live_workers;
  }
  ctx_.workers_cv.notify_all();
  // Destroying the worker object and dropping our reference must wait
  // until we are out of the worker's exit callback.
  ctx_.loop->post([self = std::move(loop_ref_)]() mutable {
    self->worker_.reset();
    self->link_.reset();
    self.reset();
  });
}

void Engagement::log_end() const {
  const auto now = Clock::now();
  spdlog::info(
      "call {} ended: result={} {} app={} image={} memory={}MiB queue={} exec={} total={} "
      "request_bytes={} response_bytes={}",
      call_->id, result_code_, result_message_.empty() ? "ok" : result_message_,
      call_->app_name.empty() ? call_->app_id : call_->app_name, call_->image, call_->memory_mib,
      go_duration(ns_between(received_at_, started_at_)), go_duration(execution_ns_),
      go_duration(ns_between(received_at_, now)), request_bytes_, response_bytes_);
}

}  // namespace fnr
