#pragma once
// One Engage stream, which carries one call. The object has two sides:
//
//  - the gRPC side (EngageStream reactions on a CqThread): reads
//    the Try, answers ack or NACK, forwards request frames, and owns a
//    small thread-safe queue of outgoing RunnerMsgs;
//  - the loop side (on the supervisor's libuv thread): the worker process,
//    its socket, timers, and the call's outcome.
//
// The sides talk only by EventLoop::post() and the locked write queue. The
// object lives while gRPC holds it (until OnDone) or the loop does (until
// it runs on a worker), whichever is longer. Capacity belongs to the worker
// (WorkerPool): released when the worker is gone, never while a function runs.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "proto/runner.grpc.pb.h"
#include "proto/worker.pb.h"
#include "shared/call.h"
#include "shared/ledger.h"
#include "supervisor/engage_stream.h"
#include "supervisor/runner_context.h"
#include "supervisor/worker_handle.h"

namespace fnr {

class Engagement final : public EngageStream,
                         public WorkerHandle::Client,
                         public std::enable_shared_from_this<Engagement> {
 public:
  // Waits for the next Engage call; each started one waits for the next.
  static void listen(RunnerContext& ctx, RunnerProtocol::AsyncService& service,
                     grpc::ServerCompletionQueue* cq);
  explicit Engagement(RunnerContext& ctx) : ctx_(ctx) {}
  ~Engagement() override;

  // Loop thread: end the call now (shutdown).
  void abort_call(int code, const std::string& message);

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kWriteHighWatermark = 256UL * 1024;
  static constexpr size_t kWriteLowWatermark = 64UL * 1024;

  // --- gRPC side -----------------------------------------------------------
  void OnStarted() override;
  void OnNotStarted() override;
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;
  void handle_try(const TryCall& t);
  void nack(NackReason why, const std::string& reason);
  void forward_data(DataFrame* frame);
  // Thread-safe. While corked, messages only queue; uncork() sends the
  // batch with gRPC's buffer hint on all but the last, and a batch that
  // ends the call leaves with its status in one operation.
  void send(RunnerMsg&& msg);
  void finish_after_writes(const grpc::Status& status);
  void cork();
  void uncork();
  struct WriteStep;
  WriteStep next_write_locked();
  void run(const WriteStep& step);
  void read_next();
  [[nodiscard]] bool writes_over_watermark();

  // --- loop side -----------------------------------------------------------
  void loop_place();
  void loop_request_data(const std::string& data);
  void loop_request_eof();
  void loop_client_gone();
  void loop_writes_drained();
  void on_worker_frame(FrameType type, std::span<const char> payload) override;
  void on_worker_drain() override;
  void on_worker_frames_done() override;
  void on_worker_lost(int wait_status) override;
  void on_result_start(std::span<const char> payload);
  void on_response_data(std::span<const char> payload);
  void on_finished(std::span<const char> payload);
  void on_deadline();
  void complete(bool success, int code, const std::string& message, bool error_user,
                int64_t execution_ns);
  void fail_and_drop(int code, const std::string& message);
  void drop_worker(bool keep);
  void release_loop_ref();
  void log_end() const;

  RunnerContext& ctx_;

  // Set on the gRPC thread before the loop side exists, read-only after.
  std::shared_ptr<const Config> config_;  // the snapshot this call runs under
  std::optional<Call> call_;
  std::string slot_key_;
  Clock::time_point received_at_{};
  std::chrono::system_clock::time_point created_wall_{};
  std::chrono::system_clock::time_point client_deadline_{};
  std::atomic<bool> eof_seen_{false};
  uint64_t received_bytes_ = 0;  // gRPC read side only
  ClientMsg in_;

  // Guarded by mu_.
  std::mutex mu_;
  std::deque<RunnerMsg> out_;
  size_t out_bytes_ = 0;
  bool writing_ = false;
  bool corked_ = false;
  bool finish_requested_ = false;
  bool finish_called_ = false;
  bool wants_drain_ = false;
  bool cancelled_ = false;
  bool read_pending_ = false;
  grpc::Status final_status_;
  std::shared_ptr<Engagement> grpc_ref_;  // released in OnDone (or OnNotStarted)

  // Loop thread only.
  std::shared_ptr<Engagement> loop_ref_;  // held while a worker runs our call
  WorkerHandle* worker_ = nullptr;        // attached while it runs our call
  uv_timer_t* timer_ = nullptr;
  Clock::time_point reserved_at_{};
  Clock::time_point started_at_{};
  bool completed_ = false;
  bool result_started_ = false;
  bool client_gone_ = false;
  int result_code_ = 0;
  std::string result_message_;
  int64_t execution_ns_ = 0;
  uint64_t request_bytes_ = 0;
  uint64_t response_bytes_ = 0;
};

}  // namespace fnr
