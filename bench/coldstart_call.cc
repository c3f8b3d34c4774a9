#include "bench/coldstart_call.h"

#include <unistd.h>

#include "bench/call_json.h"

namespace fnr::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ns_of(std::chrono::nanoseconds d) { return d.count(); }

}  // namespace

ColdCaller::ColdCaller(client::LbClient& lb, const Options& options, std::string image)
    : lb_(lb),
      options_(options),
      image_(std::move(image)),
      body_(options.size, 'c'),
      id_prefix_("coldstart-" + std::to_string(getpid()) + "-") {}

std::string ColdCaller::call_json(uint64_t seq) const {
  return bench_call_json(options_, id_prefix_ + std::to_string(seq), image_, "coldstart");
}

ColdCallTimes ColdCaller::call(uint64_t seq) {
  const std::string json = call_json(seq);
  Clock::time_point result_start_at;
  Clock::time_point first_data_at;
  std::string response;
  client::CallOptions options;
  options.on_result_start = [&](int, const client::Headers&) { result_start_at = Clock::now(); };
  options.on_data = [&](std::string_view bytes) {
    if (response.empty()) first_data_at = Clock::now();
    response.append(bytes);
  };
  const client::CallOutcome out = lb_.engage(json, client::BodySource(body_), options);

  ColdCallTimes t;
  if (!out.success || !out.protocol_error.empty()) {
    if (!out.protocol_error.empty()) {
      t.error = "protocol: " + out.protocol_error;
    } else if (out.finished) {
      t.error = "finished " + out.details;
    } else {
      t.error = "gRPC " + std::to_string(out.grpc_code) + ": " + out.grpc_message;
    }
    return t;
  }
  if (response != body_) {
    t.error = "the echo answered " + std::to_string(response.size()) + " bytes, not the " +
              std::to_string(body_.size()) + " sent";
    return t;
  }
  t.ok = true;
  t.result_start_ns = ns_of(out.to_result_start);
  // result_start's offset from the Try is the client's own; the first byte
  // follows it by what our clock saw between the two callbacks.
  t.first_byte_ns = response.empty() ? t.result_start_ns
                                     : t.result_start_ns + ns_of(first_data_at - result_start_at);
  t.total_ns = ns_of(out.latency);
  return t;
}

}  // namespace fnr::bench
