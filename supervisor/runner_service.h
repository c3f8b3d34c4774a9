#pragma once
// The RunnerProtocol gRPC service on the async API, served by CqThreads
// (one by default): no thread per stream, and no hand-off between gRPC's
// own threads. Each Engage is an Engagement; Status answers from the
// counters.
#include "proto/runner.grpc.pb.h"
#include "supervisor/runner_context.h"

namespace fnr {

class RunnerService final : public RunnerProtocol::AsyncService {
 public:
  explicit RunnerService(RunnerContext& ctx) : ctx_(ctx) {}

  // After BuildAndStart: waits for calls on `cq`.
  void serve(grpc::ServerCompletionQueue* cq);

 private:
  RunnerContext& ctx_;
};

}  // namespace fnr
