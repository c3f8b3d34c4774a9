#include "supervisor/runner_service.h"

#include "supervisor/engagement.h"

namespace fnr {

grpc::ServerBidiReactor<ClientMsg, RunnerMsg>* RunnerService::Engage(
    grpc::CallbackServerContext* context) {
  return Engagement::create(ctx_, context->deadline());
}

grpc::ServerUnaryReactor* RunnerService::Status(grpc::CallbackServerContext* context,
                                                const google::protobuf::Empty* /*request*/,
                                                RunnerStatus* response) {
  response->set_active(ctx_.counters.active.load());
  response->set_requests_received(ctx_.counters.requests_received.load());
  response->set_requests_handled(ctx_.counters.requests_handled.load());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace fnr
