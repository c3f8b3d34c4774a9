#include "supervisor/event_loop.h"

#include <stdexcept>
#include <string>

namespace fnr {

EventLoop::EventLoop() {
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  uv_async_init(&loop_, &wakeup_, on_wakeup);
  wakeup_.data = this;
  uv_check_init(&loop_, &turn_end_);
  turn_end_.data = this;
  uv_idle_init(&loop_, &keep_turning_);
}

EventLoop::~EventLoop() { stop(); }

void EventLoop::start() {
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  uv_async_send(&wakeup_);
}

void EventLoop::defer(std::function<void()> task) {
  // Once the handles are closing (a worker link torn down at stop), stop()
  // runs what is left after the loop thread ends.
  if (deferred_.empty() && !closing_) {
    uv_check_start(&turn_end_, on_turn_end);
    uv_idle_start(&keep_turning_, [](uv_idle_t*) {});
  }
  deferred_.push_back(std::move(task));
}

void EventLoop::on_turn_end(uv_check_t* check) {
  auto* self = static_cast<EventLoop*>(check->data);
  uv_check_stop(&self->turn_end_);
  uv_idle_stop(&self->keep_turning_);
  // A task may defer again: that goes to the next turn.
  std::vector<std::function<void()>> tasks;
  tasks.swap(self->deferred_);
  for (auto& task : tasks) task();
}

void EventLoop::on_wakeup(uv_async_t* async) {
  auto* self = static_cast<EventLoop*>(async->data);
  self->run_tasks();
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    stopping = self->stopping_ && self->tasks_.empty();
  }
  if (stopping) {
    while (!self->deferred_.empty()) on_turn_end(&self->turn_end_);
    self->closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&self->turn_end_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->keep_turning_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->wakeup_), nullptr);
    // Handles still open (worker links being torn down) close on their own;
    // uv_run returns when the last one is gone.
  }
}

void EventLoop::run_tasks() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.swap(tasks_);
  }
  for (auto& task : running_) task();
  running_.clear();
}

void EventLoop::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  uv_async_send(&wakeup_);
  thread_.join();
  for (auto& task : deferred_) task();
  deferred_.clear();
  uv_loop_close(&loop_);
}

}  // namespace fnr
