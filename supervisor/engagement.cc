#include "supervisor/engagement.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include "shared/uv_handles.h"
#include "supervisor/call_spec.h"
#include "supervisor/go_duration.h"
#include "supervisor/slot_key.h"
#include "supervisor/worker_pool.h"

namespace fnr {
namespace {

constexpr auto kBusyCode = static_cast<grpc::StatusCode>(503);
// How long past the call's deadline the worker gets to report its own
// timeout before the supervisor kills it.
constexpr uint64_t kDeadlineGraceMs = 1000;

int64_t ns_between(std::chrono::steady_clock::time_point a,
                   std::chrono::steady_clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

}  // namespace

void Engagement::listen(RunnerContext& ctx, RunnerProtocol::AsyncService& service,
                        grpc::ServerCompletionQueue* cq) {
  auto e = std::make_shared<Engagement>(ctx);
  e->grpc_ref_ = e;
  e->request(service, cq);
}

Engagement::~Engagement() { close_and_free(timer_); }

// ============================ gRPC side ====================================

void Engagement::OnStarted() {
  listen(ctx_, service(), cq());
  ctx_.counters.active.fetch_add(1);
  client_deadline_ = context().deadline();
  read_next();
}

void Engagement::OnNotStarted() {
  // The server is shutting down; nothing else holds us.
  std::shared_ptr<Engagement> last = std::move(grpc_ref_);
}

// The flags decide under mu_ and the Start*/Finish call is made after it,
// so no lock is held across gRPC's I/O. `writing_` makes one thread the
// writer, and a deque keeps &out_.front() valid while others push_back.
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
      return nack(NackReason::kProtocol, "protocol error: expected a try message");
    }
    return handle_try(in_.try_());
  }
  if (in_.body_case() != ClientMsg::kData) {
    // A second Try: the spec allows one call per stream.
    spdlog::warn("call {}: protocol error: unexpected message after the try", call_->id);
    ctx_.loop->post(
        [self = shared_from_this()] { self->fail_and_drop(400, "protocol error: expected data"); });
    return;
  }
  forward_data(in_.mutable_data());
}

void Engagement::handle_try(const TryCall& t) {
  received_at_ = Clock::now();
  created_wall_ = std::chrono::system_clock::now();
  ctx_.counters.requests_received.fetch_add(1);
  if (ctx_.draining.load()) return nack(NackReason::kShuttingDown, "runner is shutting down");
  config_ = ctx_.config.get();

  CallParse parsed = parse_call(t.models_call_json(), config_->call_limits);
  if (!parsed.call) {
    spdlog::warn("call {}: rejected: {}", peek_call_id(t.models_call_json()), parsed.error);
    return nack(NackReason::kInvalidCall, parsed.error);
  }
  call_ = std::move(parsed.call);
  if (call_->memory_mib > ctx_.ledger->total_mib()) {
    return nack(NackReason::kInvalidCall, "invalid call: memory " +
                                              std::to_string(call_->memory_mib) +
                                              " MiB exceeds the runner's total " +
                                              std::to_string(ctx_.ledger->total_mib()) + " MiB");
  }
  slot_key_ = slot_key(*call_);
  // Placement (an idle hot container, or capacity and a fresh worker) is
  // the pool's, on the loop thread.
  ctx_.loop->post([self = shared_from_this()] { self->loop_place(); });
  read_next();
}

void Engagement::nack(NackReason why, const std::string& reason) {
  ctx_.metrics.nack(why);
  RunnerMsg m;
  m.mutable_acknowledged()->set_committed(false);
  m.mutable_acknowledged()->set_details(reason);
  cork();
  send(std::move(m));
  // The May-2018 LB ignores the ack: only this status makes it retry.
  finish_after_writes(grpc::Status(kBusyCode, reason));
  uncork();
}

void Engagement::forward_data(DataFrame* frame) {
  if (eof_seen_.load()) return;
  if (frame->eof()) eof_seen_.store(true);
  received_bytes_ += frame->data().size();
  const bool too_large =
      config_->max_request_bytes != 0 && received_bytes_ > config_->max_request_bytes;
  // Moving the bytes out leaves `in_` free for the next read without a copy.
  ctx_.loop->post([self = shared_from_this(), data = std::move(*frame->mutable_data()),
                   eof = frame->eof(), too_large] {
    if (too_large) return self->fail_and_drop(413, "request body too large");
    if (!data.empty()) self->loop_request_data(data);
    if (eof) self->loop_request_eof();
  });
  // The next read is asked for by the loop once the worker took this one.
}

struct Engagement::WriteStep {
  enum class Kind { kNone, kWrite, kWriteAndFinish, kFinish } kind = Kind::kNone;
  const RunnerMsg* msg = nullptr;
  grpc::WriteOptions options;
};

// Picks what the single writer does next; mu_ held, writing_ false.
Engagement::WriteStep Engagement::next_write_locked() {
  WriteStep step;
  if (corked_ || finish_called_) return step;
  if (out_.empty()) {
    if (finish_requested_ && !finish_called_) {
      finish_called_ = true;
      step.kind = WriteStep::Kind::kFinish;
    }
    return step;
  }
  writing_ = true;
  step.msg = &out_.front();
  if (out_.size() == 1 && finish_requested_ && !finish_called_) {
    // The last message and the status share one batch (and, for a small
    // response, one TCP write with the rest).
    finish_called_ = true;
    step.kind = WriteStep::Kind::kWriteAndFinish;
    return step;
  }
  // More is queued behind it: gRPC may hold this one and send them together.
  if (out_.size() > 1) step.options.set_buffer_hint();
  step.kind = WriteStep::Kind::kWrite;
  return step;
}

void Engagement::run(const WriteStep& step) {
  switch (step.kind) {
    case WriteStep::Kind::kNone:
      return;
    case WriteStep::Kind::kWrite:
      return StartWrite(step.msg, step.options);
    case WriteStep::Kind::kWriteAndFinish:
      return StartWriteAndFinish(step.msg, step.options, final_status_);
    case WriteStep::Kind::kFinish:
      return Finish(final_status_);
  }
}

void Engagement::send(RunnerMsg&& msg) {
  WriteStep step;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_called_ || finish_requested_ || cancelled_) return;
    out_bytes_ += msg.ByteSizeLong();
    out_.push_back(std::move(msg));
    if (!writing_) step = next_write_locked();
  }
  run(step);
}

void Engagement::cork() {
  std::lock_guard<std::mutex> lock(mu_);
  corked_ = true;
}

void Engagement::uncork() {
  WriteStep step;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!corked_) return;
    corked_ = false;
    if (!writing_) step = next_write_locked();
  }
  run(step);
}

void Engagement::finish_after_writes(const grpc::Status& status) {
  WriteStep step;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_called_ || finish_requested_) return;
    finish_requested_ = true;
    final_status_ = status;
    // A write in flight or a cork: whoever sends the last message finishes.
    if (!writing_) step = next_write_locked();
  }
  run(step);
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
  WriteStep step;
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
    step = next_write_locked();
    if (wants_drain_ && out_bytes_ <= kWriteLowWatermark) {
      wants_drain_ = false;
      drained = true;
    }
  }
  run(step);
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
  ctx_.engagement_ended();
  std::shared_ptr<Engagement> last;
  std::lock_guard<std::mutex> lock(mu_);
  last = std::move(grpc_ref_);  // may free us after the lock is released
  // No capacity to give back here: it belongs to the worker (WorkerPool).
}

// ============================ loop side ====================================

void Engagement::loop_place() {
  if (client_gone_) return;
  WorkerHandle* w = ctx_.pool->take_idle(slot_key_);
  const bool hot = w != nullptr;
  if (w == nullptr) {
    auto reservation = ctx_.pool->reserve(call_->id, call_->memory_mib);
    if (!reservation) {
      spdlog::info("call {}: NACK, {} MiB requested, {} of {} MiB free", call_->id,
                   call_->memory_mib, ctx_.ledger->total_mib() - ctx_.ledger->reserved_mib(),
                   ctx_.ledger->total_mib());
      return nack(NackReason::kCapacity, "server too busy: not enough memory capacity for " +
                                             std::to_string(call_->memory_mib) + " MiB");
    }
    std::string error;
    w = ctx_.pool->take_fresh(*reservation, call_->memory_mib, &error);
    if (w == nullptr) {
      spdlog::error("call {}: cannot start a worker: {}", call_->id, error);
      return nack(NackReason::kRunnerFault, "runner fault: could not start a worker");
    }
    w->slot_key = slot_key_;
    w->idle_timeout_s = call_->idle_timeout_s;
    char key_hash[20];
    std::snprintf(key_hash, sizeof key_hash, "%08zx",
                  std::hash<std::string>{}(slot_key_)&0xFFFFFFFFU);
    w->label = call_->image + " #" + key_hash;
  } else if (w->reservation) {
    ctx_.ledger->set_state(*w->reservation, ReservationState::kRunning);
  }
  reserved_at_ = Clock::now();
  started_at_ = reserved_at_;
  ctx_.metrics.queue.observe_ns(ns_between(received_at_, started_at_));
  ctx_.counters.requests_handled.fetch_add(1);
  loop_ref_ = shared_from_this();
  worker_ = w;
  worker_->attach(this);
  ++worker_->calls;
  ctx_.with_worker.insert(this);
  if (worker_->reservation) {
    ctx_.ledger->label(*worker_->reservation, call_->id, worker_->label,
                       static_cast<uint32_t>(worker_->calls));
  }

  RunnerMsg ack;
  auto* a = ack.mutable_acknowledged();
  a->set_committed(true);
  a->set_details(call_->id);
  a->set_slot_allocation_latency(go_duration(ns_between(received_at_, reserved_at_)));
  send(std::move(ack));

  const wire::CallSpec spec = make_call_spec(*call_, *config_, ctx_.cgroups, worker_->sandbox_id,
                                             ctx_.runtime_dir, created_wall_, client_deadline_);
  worker_->link().send(FrameType::kCallSpec, spec.SerializeAsString());
  spdlog::debug("call {}: placed on worker {} ({})", call_->id, worker_->pid(),
                hot ? "hot container" : "new container");

  timer_ = new uv_timer_t{};
  uv_timer_init(ctx_.loop->loop(), timer_);
  timer_->data = this;
  uv_timer_start(
      timer_,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<Engagement*>(t->data)) self->on_deadline();
      },
      static_cast<uint64_t>(call_->timeout_s) * 1000 + kDeadlineGraceMs, 0);
}

void Engagement::loop_request_data(const std::string& data) {
  request_bytes_ += data.size();
  if (worker_ == nullptr || completed_) return read_next();
  FrameStream& link = worker_->link();
  for (size_t off = 0; off < data.size(); off += kDataChunk) {
    link.send(FrameType::kRequestData,
              std::string_view(data).substr(off, std::min(kDataChunk, data.size() - off)));
  }
  if (!link.over_high_watermark()) read_next();
}

void Engagement::loop_request_eof() {
  if (worker_ != nullptr && !completed_) worker_->link().send(FrameType::kRequestEof, {});
}

void Engagement::on_worker_frames_done() { uncork(); }

void Engagement::on_worker_drain() {
  // The worker took the request bytes we had queued: ask gRPC for more.
  if (!eof_seen_.load()) read_next();
}

void Engagement::loop_writes_drained() {
  if (worker_ != nullptr && !completed_) worker_->link().start_reading();
}

void Engagement::loop_client_gone() {
  client_gone_ = true;
  if (!completed_ && worker_ != nullptr) {
    result_code_ = 499;
    result_message_ = "client cancelled";
    completed_ = true;
    ctx_.metrics.call_ended(result_code_);
    log_end();
    // The container was in the middle of a call: it cannot be trusted with
    // the next one.
    drop_worker(false);
  }
}

void Engagement::on_worker_frame(FrameType type, std::span<const char> payload) {
  if (completed_) return;
  // What this read brought (result start, data, finished) leaves together.
  cork();
  switch (type) {
    case FrameType::kResultStart:
      return on_result_start(payload);
    case FrameType::kResponseData:
      return on_response_data(payload);
    case FrameType::kFinished:
      return on_finished(payload);
    default:
      spdlog::error("call {}: worker protocol error: unexpected {} frame", call_->id,
                    frame_type_name(type));
      return fail_and_drop(500, "runner fault: worker protocol error");
  }
}

void Engagement::on_result_start(std::span<const char> payload) {
  wire::ResultStart rs;
  if (result_started_ || !rs.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    spdlog::error("call {}: worker sent a bad result start", call_->id);
    return fail_and_drop(500, "runner fault: worker protocol error");
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
  if (!result_started_) return fail_and_drop(500, "runner fault: worker protocol error");
  response_bytes_ += payload.size();
  RunnerMsg m;
  m.mutable_data()->set_data(payload.data(), payload.size());
  send(std::move(m));
  // A slow LB: stop reading the worker until gRPC has written what we gave.
  if (writes_over_watermark()) worker_->link().stop_reading();
}

void Engagement::on_finished(std::span<const char> payload) {
  wire::Finished f;
  if (!f.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail_and_drop(500, "runner fault: worker protocol error");
  }
  ctx_.metrics.execution.observe_ns(f.execution_ns());
  if (f.oom_killed()) ctx_.metrics.oom_kill();
  complete(f.success(), f.code(), f.message(), f.error_user(), f.execution_ns());
  drop_worker(f.container_kept());
}

void Engagement::on_worker_lost(int wait_status) {
  worker_ = nullptr;
  uncork();
  if (!completed_) {
    spdlog::error("call {}: worker died ({}) before finishing the call", call_->id,
                  WIFSIGNALED(wait_status) ? "signal " + std::to_string(WTERMSIG(wait_status))
                                           : "exit " + std::to_string(WEXITSTATUS(wait_status)));
    complete(false, 502, "function runner crashed", false, 0);
  }
  release_loop_ref();
}

void Engagement::on_deadline() {
  if (completed_) return;
  spdlog::warn("call {}: worker missed the deadline, killing it", call_->id);
  fail_and_drop(504, "Timed out");
}

void Engagement::fail_and_drop(int code, const std::string& message) {
  complete(false, code, message, code == 504, 0);
  drop_worker(false);
}

// The call is over for this engagement: a kept container goes back to the
// pool idle; any other worker is told to end, and the pool releases its
// capacity once it is gone.
void Engagement::drop_worker(bool keep) {
  uncork();  // the worker's end-of-batch callback no longer reaches us
  if (worker_ == nullptr) return;
  WorkerHandle* w = std::exchange(worker_, nullptr);
  w->detach();
  ctx_.with_worker.erase(this);
  if (keep) {
    ctx_.pool->park(w);
  } else {
    w->shut_down(std::chrono::milliseconds(config_->kill_grace_ms));
  }
  release_loop_ref();
}

void Engagement::release_loop_ref() {
  ctx_.with_worker.erase(this);
  close_and_free(timer_);
  // Dropped at the end of this loop turn: we may be inside our own callback.
  if (loop_ref_) ctx_.loop->defer([self = std::move(loop_ref_)] {});
}

void Engagement::complete(bool success, int code, const std::string& message, bool error_user,
                          int64_t execution_ns) {
  if (completed_) return;
  completed_ = true;
  result_code_ = code;
  ctx_.metrics.call_ended(success ? 200 : code);
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
  log_end();
}

void Engagement::abort_call(int code, const std::string& message) { fail_and_drop(code, message); }

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
