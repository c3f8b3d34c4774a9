#pragma once
// The supervisor's view of one worker process, on the loop thread: its
// socket, its exit, the capacity it holds, and what it is doing. A worker is
//   spare    started ahead of demand, no container yet, holds no capacity;
//   busy     running a call for the Engagement attached to it;
//   idle     a hot container waiting for the next call with its slot key.
// It is "lost" once its process is gone AND its socket is read to the end
// (its last frames may sit unread while a slow LB holds us back); only then
// does its pool release its capacity and remove what it left behind.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "shared/frame_stream.h"
#include "shared/ledger.h"
#include "supervisor/metrics.h"
#include "supervisor/worker_process.h"

namespace fnr {

class WorkerHandle final : public FrameStream::Handler {
 public:
  enum class State { kSpare, kBusy, kIdle };

  // The engagement using the worker for a call.
  class Client {
   public:
    virtual ~Client() = default;
    virtual void on_worker_frame(FrameType type, std::span<const char> payload) = 0;
    virtual void on_worker_drain() = 0;
    virtual void on_worker_frames_done() {}
    // The worker is gone (exit status as wait(2)); the client is detached.
    virtual void on_worker_lost(int wait_status) = 0;
  };

  using LostFn = std::function<void(WorkerHandle*)>;
  WorkerHandle(uv_loop_t* loop, SpawnedWorker spawned, LostFn on_lost, Metrics& metrics);
  ~WorkerHandle() override;
  WorkerHandle(const WorkerHandle&) = delete;
  WorkerHandle& operator=(const WorkerHandle&) = delete;

  [[nodiscard]] pid_t pid() const { return process_.pid(); }
  [[nodiscard]] State state() const { return state_; }
  // Also keeps fn_runner_containers{state} in step: a spare that turns busy
  // counts as starting until its worker reports the container ready.
  void set_state(State s);
  [[nodiscard]] FrameStream& link() { return link_; }
  [[nodiscard]] bool lost() const { return lost_; }

  void attach(Client* c) { client_ = c; }
  void detach() { client_ = nullptr; }

  // Ends the worker: closes its socket (it then stops its container and
  // exits) and SIGKILLs it if it has not after `grace`.
  void shut_down(std::chrono::milliseconds grace);

  // Identity and accounting, set by the pool.
  std::string slot_key;
  std::string sandbox_id;
  std::string label;  // image and short slot key, shown by fn-runnerctl status
  std::optional<ReservationId> reservation;
  uint32_t mib = 0;
  uint32_t idle_timeout_s = 0;
  uint64_t calls = 0;
  std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_used = created;
  uv_timer_t* idle_timer = nullptr;  // armed while idle; runs on_idle_expired
  std::function<void()> on_idle_expired;

 private:
  void on_frame(FrameType type, std::span<const char> payload) override;
  void on_frames_done() override;
  void on_stream_closed(const std::string& reason) override;
  void on_drain() override;
  void on_exit(int wait_status);
  void check_lost();
  void on_container_ready(std::span<const char> payload);
  void count_as(std::optional<ContainerState> s);

  WorkerProcess process_;
  FrameStream link_;
  LostFn on_lost_;
  Metrics& metrics_;
  std::optional<ContainerState> counted_as_;  // in fn_runner_containers
  bool shut_down_asked_ = false;              // else losing it is a crash
  Client* client_ = nullptr;
  State state_ = State::kSpare;
  uv_timer_t* kill_timer_ = nullptr;
  int wait_status_ = 0;
  bool lost_ = false;
};

}  // namespace fnr
