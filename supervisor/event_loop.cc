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

void EventLoop::on_wakeup(uv_async_t* async) {
  auto* self = static_cast<EventLoop*>(async->data);
  self->run_tasks();
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    stopping = self->stopping_ && self->tasks_.empty();
  }
  if (stopping) {
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
  uv_loop_close(&loop_);
}

}  // namespace fnr
