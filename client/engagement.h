#pragma once
// One Engage stream driven the way an April or May 2018 LB drove it.
// Internal to the client library; LbClient::engage() is the entry point.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string_view>

#include "client/lb_client.h"
#include "proto/runner.grpc.pb.h"

namespace fnr::client {

class Engagement {
 public:
  Engagement(RunnerProtocol::Stub& stub, const LbOptions& lb, const CallOptions& call);
  ~Engagement();  // unhooks the caller's CallCanceller
  Engagement(const Engagement&) = delete;
  Engagement& operator=(const Engagement&) = delete;

  CallOutcome run(std::string_view call_json, const BodySource& body);

 private:
  using Clock = std::chrono::steady_clock;
  using Stream = grpc::ClientReaderWriter<ClientMsg, RunnerMsg>;

  void on_message(const RunnerMsg& msg);
  void on_ack(const CallAcknowledged& ack);
  void on_result_start(const CallResultStart& start);
  void on_data(const DataFrame& frame);
  void on_finished(const CallFinished& finished);
  // Reads until the runner ends the stream (or our cancel does).
  void drain(Stream& stream);
  void cancel();
  void protocol_error(std::string_view what);
  [[nodiscard]] std::chrono::microseconds since_start() const;

  RunnerProtocol::Stub& stub_;
  const LbOptions& lb_;
  const CallOptions& call_;
  grpc::ClientContext ctx_;
  Clock::time_point start_;
  RunnerMsg msg_;  // reused for every read
  CallOutcome out_;
  bool cancel_sent_ = false;
};

}  // namespace fnr::client
