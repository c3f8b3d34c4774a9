#pragma once
// One Engage call on gRPC's async API, shaped like ServerBidiReactor: the
// subclass starts reads and writes and gets On* reactions, all of them on
// the CqThread of the queue it was requested on. OnDone comes once, after the call has ended and
// the last operation's reaction has run; then the subclass may free itself.
#include <grpcpp/grpcpp.h>

#include <atomic>

#include "proto/runner.grpc.pb.h"
#include "supervisor/cq_thread.h"

namespace fnr {

class EngageStream {
 public:
  virtual ~EngageStream() = default;
  EngageStream(const EngageStream&) = delete;
  EngageStream& operator=(const EngageStream&) = delete;

 protected:
  EngageStream() = default;

  // Waits for the next Engage call: OnStarted, or OnNotStarted when the
  // server shuts down first.
  void request(RunnerProtocol::AsyncService& service, grpc::ServerCompletionQueue* cq);
  // Thread-safe; at most one read and one write (or finish) outstanding.
  void StartRead(ClientMsg* msg);
  void StartWrite(const RunnerMsg* msg, grpc::WriteOptions options);
  void StartWriteAndFinish(const RunnerMsg* msg, grpc::WriteOptions options,
                           const grpc::Status& status);
  void Finish(const grpc::Status& status);

  [[nodiscard]] const grpc::ServerContext& context() const { return ctx_; }
  [[nodiscard]] RunnerProtocol::AsyncService& service() const { return *service_; }
  [[nodiscard]] grpc::ServerCompletionQueue* cq() const { return cq_; }

  virtual void OnStarted() = 0;
  virtual void OnNotStarted() = 0;
  virtual void OnReadDone(bool ok) = 0;
  virtual void OnWriteDone(bool ok) = 0;
  virtual void OnCancel() = 0;
  virtual void OnDone() = 0;

 private:
  class Op final : public CqTag {
   public:
    using Reaction = void (EngageStream::*)(bool);
    Op(EngageStream* stream, Reaction reaction) : stream_(stream), reaction_(reaction) {}
    void proceed(bool ok) override { (stream_->*reaction_)(ok); }

   private:
    EngageStream* stream_;
    Reaction reaction_;
  };

  void started(bool ok);
  void read_done(bool ok);
  void write_done(bool ok);
  void finish_done(bool ok);
  void done(bool ok);
  void begin_op() { pending_.fetch_add(1, std::memory_order_relaxed); }
  void end_op();

  grpc::ServerContext ctx_;
  grpc::ServerAsyncReaderWriter<RunnerMsg, ClientMsg> stream_{&ctx_};
  RunnerProtocol::AsyncService* service_ = nullptr;
  grpc::ServerCompletionQueue* cq_ = nullptr;
  Op started_op_{this, &EngageStream::started};
  Op read_op_{this, &EngageStream::read_done};
  Op write_op_{this, &EngageStream::write_done};
  Op finish_op_{this, &EngageStream::finish_done};
  Op done_op_{this, &EngageStream::done};
  // Operations whose reaction has not run yet, plus one for the call
  // itself (ended by the done notification): OnDone at zero.
  std::atomic<int> pending_{1};
};

}  // namespace fnr
