#include "supervisor/worker_handle.h"

#include <spdlog/spdlog.h>

#include "shared/uv_handles.h"

namespace fnr {

WorkerHandle::WorkerHandle(uv_loop_t* loop, SpawnedWorker spawned, LostFn on_lost)
    : process_(loop, spawned.pid, std::move(spawned.pidfd), [this](int st) { on_exit(st); }),
      link_(loop, std::move(spawned.socket), this),
      on_lost_(std::move(on_lost)) {
  link_.start_reading();
  kill_timer_ = new uv_timer_t{};
  uv_timer_init(loop, kill_timer_);
  kill_timer_->data = this;
  idle_timer = new uv_timer_t{};
  uv_timer_init(loop, idle_timer);
  idle_timer->data = this;
}

WorkerHandle::~WorkerHandle() {
  close_and_free(kill_timer_);
  close_and_free(idle_timer);
  link_.close();
  // ~WorkerProcess kills and reaps a worker still running.
}

void WorkerHandle::on_frame(FrameType type, std::span<const char> payload) {
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
  uv_timer_stop(kill_timer_);
  uv_timer_stop(idle_timer);
  if (Client* c = std::exchange(client_, nullptr)) c->on_worker_lost(wait_status_);
  on_lost_(this);
}

void WorkerHandle::shut_down(std::chrono::milliseconds grace) {
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
