#include "supervisor/runner_service.h"

#include <memory>

#include "supervisor/cq_thread.h"
#include "supervisor/engagement.h"

namespace fnr {
namespace {

// Engage calls that can be matched while the CqThread is busy with others:
// gRPC queues any further ones until a listener is back.
constexpr int kEngageListeners = 4;

// One Status call: requested, answered from the counters, freed once the
// answer is sent (or at once when the server shuts down first).
class StatusCall final : public CqTag {
 public:
  static void listen(RunnerContext& ctx, RunnerProtocol::AsyncService& service,
                     grpc::ServerCompletionQueue* cq) {
    // Owned by the queue until proceed() ends it.
    auto* call = new StatusCall(ctx, service, cq);
    service.RequestStatus(&call->server_ctx_, &call->request_, &call->responder_, cq, cq, call);
  }

  void proceed(bool ok) override {
    std::unique_ptr<StatusCall> self(this);
    if (answered_ || !ok) return;
    listen(ctx_, service_, cq_);
    RunnerStatus status;
    status.set_active(ctx_.counters.active.load());
    status.set_requests_received(ctx_.counters.requests_received.load());
    status.set_requests_handled(ctx_.counters.requests_handled.load());
    answered_ = true;
    // Back to the queue until the answer is sent.
    StatusCall* call = self.release();
    responder_.Finish(status, grpc::Status::OK, call);
  }

 private:
  StatusCall(RunnerContext& ctx, RunnerProtocol::AsyncService& service,
             grpc::ServerCompletionQueue* cq)
      : ctx_(ctx), service_(service), cq_(cq) {}

  RunnerContext& ctx_;
  RunnerProtocol::AsyncService& service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext server_ctx_;
  google::protobuf::Empty request_;
  grpc::ServerAsyncResponseWriter<RunnerStatus> responder_{&server_ctx_};
  bool answered_ = false;
};

}  // namespace

void RunnerService::serve(grpc::ServerCompletionQueue* cq) {
  for (int i = 0; i < kEngageListeners; ++i) Engagement::listen(ctx_, *this, cq);
  StatusCall::listen(ctx_, *this, cq);
}

}  // namespace fnr
