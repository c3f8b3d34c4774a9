#pragma once
// The RunnerProtocol gRPC service on the callback API: no thread per
// stream; each Engage is an Engagement reactor.
#include "proto/runner.grpc.pb.h"
#include "supervisor/runner_context.h"

namespace fnr {

class RunnerService final : public RunnerProtocol::CallbackService {
 public:
  explicit RunnerService(RunnerContext& ctx) : ctx_(ctx) {}

  grpc::ServerBidiReactor<ClientMsg, RunnerMsg>* Engage(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const google::protobuf::Empty* request,
                                   RunnerStatus* response) override;

 private:
  RunnerContext& ctx_;
};

}  // namespace fnr
