#include "supervisor/worker_handle.h"

#include <spdlog/spdlog.h>

#include "proto/worker.pb.h"
#include "shared/uv_handles.h"

namespace fnr {

WorkerHandle::WorkerHandle(uv_loop_t* loop, SpawnedWorker spawned, LostFn on_lost, Metrics& metrics)
    : process_(loop, spawned.pid, std::move(spawned.pidfd), [this](int st) { on_exit(st); }),
      link_(loop, std::move(spawned.socket), this),
      on_lost_(std::move(on_lost)),
      metrics_(metrics) {
  link_.start_reading();
  kill_timer_ = new uv_timer_t{};
  uv_timer_init(loop, kill_timer_);
  kill_timer_->data = this;
  idle_timer = new uv_timer_t{};
  uv_timer_init(loop, idle_timer);
  idle_timer->data = this;
}

WorkerHandle::~WorkerHandle() {
  count_as(std::nullopt);
  close_and_free(kill_timer_);
  close_and_free(idle_timer);
  link_.close();
  // ~WorkerProcess kills and reaps a worker still running.
}

void WorkerHandle::set_state(State s) {
  if (s == State::kBusy) {
    count_as(state_ == State::kSpare ? ContainerState::kStarting : ContainerState::kBusy);
  } else if (s == State::kIdle) {
    count_as(ContainerState::kIdle);
  }
  state_ = s;
}

void WorkerHandle::count_as(std::optional<ContainerState> s) {
  if (counted_as_ == s) return;
  if (counted_as_) metrics_.container_leave(*counted_as_);
  if (s) metrics_.container_enter(*s);
  counted_as_ = s;
}

void WorkerHandle::on_container_ready(std::span<const char> payload) {
  wire::ContainerReady ready;
  if (!ready.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    spdlog::error("worker {}: bad container-ready frame", pid());
    return shut_down(std::chrono::milliseconds(0));
  }
  metrics_.cold_start.observe_ns(ready.start_ns());
  if (counted_as_ == ContainerState::kStarting) count_as(ContainerState::kBusy);
}

void WorkerHandle::on_frame(FrameType type, std::span<const char> payload) {
  // Container lifecycle news is the pool's, whoever runs on the worker.
  if (type == FrameType::kContainerReady) return on_container_ready(payload);
  if (client_ != nullptr) {
    client_->on_worker_frame(type, payload);
    return;
  }
  // Nobody asked: a spare or idle worker talking out of turn is broken.
  spdlog::error("worker {}: unexpected {} frame while {}", pid(), frame_type_name(type),
                state_ == State::kIdle ? "idle" : "spare");
  shut_down(std::chrono::milliseconds(0));
}

void WorkerHandle::on_frames_done() {
  if (client_ != nullptr) client_->on_worker_frames_done();
}

void WorkerHandle::on_drain() {
  if (client_ != nullptr) client_->on_worker_drain();
}

void WorkerHandle::on_stream_closed(const std::string& reason) {
  spdlog::debug("worker {}: link closed: {}", pid(), reason);
  link_.close();
  check_lost();
}

void WorkerHandle::on_exit(int wait_status) {
  wait_status_ = wait_status;
  check_lost();
}

void WorkerHandle::check_lost() {
  if (lost_ || !process_.exited() || link_.open()) return;
  lost_ = true;
  count_as(std::nullopt);
  if (!shut_down_asked_) {
    metrics_.worker_crash();
    spdlog::warn("worker {}: lost without being asked to end (wait status {:#x})", pid(),
                 wait_status_);
  }
  uv_timer_stop(kill_timer_);
  uv_timer_stop(idle_timer);
  if (Client* c = std::exchange(client_, nullptr)) c->on_worker_lost(wait_status_);
  on_lost_(this);
}

void WorkerHandle::shut_down(std::chrono::milliseconds grace) {
  shut_down_asked_ = true;
  link_.close();
  if (process_.exited()) return check_lost();
  if (grace.count() == 0) {
    process_.kill();
    return;
  }
  uv_timer_start(
      kill_timer_,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<WorkerHandle*>(t->data)) self->process_.kill();
      },
      static_cast<uint64_t>(grace.count()), 0);
}

}  // namespace fnr
