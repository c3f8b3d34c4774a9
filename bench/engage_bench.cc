#include "bench/engage_bench.h"

#include <chrono>
#include <random>

#include "bench/call_json.h"

namespace fnr::bench {
namespace {

std::string describe_failure(const client::CallOutcome& out) {
  if (!out.protocol_error.empty()) return "protocol: " + out.protocol_error;
  if (out.nacked) return "NACK: " + out.ack_details;
  if (out.finished && !out.finished_success) return "finished " + out.details;
  if (out.grpc_code != 0) {
    return "gRPC " + std::to_string(out.grpc_code) + ": " + out.grpc_message;
  }
  return "LB would answer " + std::to_string(out.verdict.http_status) + " " +
         out.verdict.http_message;
}

class EngageWorker : public Worker {
 public:
  EngageWorker(client::LbClient& lb, const CallTemplate& tmpl, std::string id_prefix,
               const std::string& body)
      : lb_(lb), tmpl_(tmpl), id_prefix_(std::move(id_prefix)), body_(body) {
    // The response body is only counted: keeping it would make the bench
    // measure string growth.
    options_.on_data = [this](std::string_view bytes) { response_bytes_ += bytes.size(); };
  }

  OpResult call() override {
    tmpl_.render(id_prefix_ + std::to_string(seq_++), &json_);
    const client::CallOutcome out = lb_.engage(json_, client::BodySource(body_), options_);
    if (out.success && out.protocol_error.empty()) {
      return {OpResult::Kind::kOk, out.latency, {}};
    }
    const bool busy = out.verdict.try_next_runner;
    return {busy ? OpResult::Kind::kNack : OpResult::Kind::kError, out.latency,
            describe_failure(out)};
  }

 private:
  client::LbClient& lb_;
  const CallTemplate& tmpl_;
  std::string id_prefix_;
  std::string_view body_;
  client::CallOptions options_;
  std::string json_;
  uint64_t seq_ = 0;
  uint64_t response_bytes_ = 0;
};

}  // namespace

WorkerFactory engage_workers(const Options& options,
                             const std::vector<std::unique_ptr<client::LbClient>>& clients) {
  auto tmpl = std::make_shared<CallTemplate>(bench_call_template(options));
  auto body = std::make_shared<std::string>(options.size, 'b');
  // Ids unique across runs too, so a runner's logs tell runs apart.
  std::random_device rd;
  const std::string run = std::to_string(rd() % 100000);
  return [&clients, tmpl, body, run](uint32_t index, std::string*) -> std::unique_ptr<Worker> {
    const std::string prefix = "bench-" + run + "-" + std::to_string(index) + "-";
    return std::make_unique<EngageWorker>(*clients[index % clients.size()], *tmpl, prefix, *body);
  };
}

}  // namespace fnr::bench
