#pragma once
// The supervisor's one libuv loop thread: worker sockets, worker exits and
// timers live here. Other threads (gRPC's) hand it work with post(); the
// queue's lock is held only to swap the task list, never across I/O.
#include <uv.h>

#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fnr {

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void start();
  // Runs `task` on the loop thread, in post order.
  void post(std::function<void()> task);
  // Runs pending tasks, closes the loop and joins the thread.
  void stop();
  [[nodiscard]] uv_loop_t* loop() { return &loop_; }

 private:
  static void on_wakeup(uv_async_t* async);
  void run_tasks();

  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;
  std::vector<std::function<void()>> running_;  // loop thread only
  bool stopping_ = false;
};

}  // namespace fnr
