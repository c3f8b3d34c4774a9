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
  // Loop thread only: runs `task` at the end of this loop turn, outside the
  // callback now running, without the eventfd write and wake-up post() costs.
  void defer(std::function<void()> task);
  // Runs pending tasks, closes the loop and joins the thread.
  void stop();
  [[nodiscard]] uv_loop_t* loop() { return &loop_; }

 private:
  static void on_wakeup(uv_async_t* async);
  static void on_turn_end(uv_check_t* check);
  void run_tasks();

  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  uv_check_t turn_end_{};     // runs deferred tasks after this turn's I/O
  uv_idle_t keep_turning_{};  // while tasks wait, the poll must not block
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;
  std::vector<std::function<void()>> running_;   // loop thread only
  std::vector<std::function<void()>> deferred_;  // loop thread only
  bool closing_ = false;                         // loop thread only
  bool stopping_ = false;
};

}  // namespace fnr
