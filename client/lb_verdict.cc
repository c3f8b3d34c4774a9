// What each 2018 LB made of an engagement; mirrors the LBs' receive paths
// (runner-protocol.md, "Two LB builds speak generation A").
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "client/lb_client.h"

namespace fnr::client {
namespace {

constexpr int kGrpcOk = 0;
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcBusy = 503;  // Fn's non-standard gRPC status code for "busy"
constexpr std::chrono::milliseconds kDefaultCallTimeout{30'000};

LbVerdict try_next_runner() { return {true, 503, "Timed out - server too busy"}; }

LbVerdict answer(int status, std::string message = {}) {
  return {false, status, std::move(message)};
}

// Go's http handlers answered any error that was not an API error with 500.
LbVerdict internal_error(const CallOutcome& o) {
  std::string why;
  if (o.messages_after_finished > 0) {
    why = "runner sent messages after finished";
  } else if (o.grpc_code != kGrpcOk) {
    why = "gRPC status " + std::to_string(o.grpc_code) + ": " + o.grpc_message;
  } else if (!o.finished) {
    why = "stream ended without finished";
  } else {
    why = o.details;
  }
  return answer(500, "Internal server error (" + why + ")");
}

LbVerdict april_verdict(const CallOutcome& o) {
  // Failing to get any first message meant "not placed": next runner.
  if (o.first_message.empty()) return try_next_runner();
  // Any other first message was taken as placed, with no error, and the
  // user got an empty 200.
  if (o.first_message != "acknowledged") return answer(200);
  if (o.nacked) return try_next_runner();
  if (!o.finished) return internal_error(o);
  // After finished it read once more and wanted the clean end of stream.
  if (o.messages_after_finished > 0 || o.grpc_code != kGrpcOk) return internal_error(o);
  // It never wrote the status code, and ignored a failed finish's details.
  return answer(200);
}

LbVerdict may_verdict(const CallOutcome& o) {
  // No connection: Go's Engage() failed before any stream existed, which
  // May (like April) took as "not placed". The sync C++ API only reports it
  // at the end, as UNAVAILABLE with nothing received.
  if (o.first_message.empty() && o.grpc_code == kGrpcUnavailable) return try_next_runner();
  if (!o.finished) {
    if (o.grpc_code == kGrpcBusy) return try_next_runner();
    if (o.grpc_code == kGrpcDeadlineExceeded) return answer(504, "Timed out");
    return internal_error(o);  // includes a NACK followed by a clean end
  }
  if (!o.finished_success) {
    const std::optional<CodeMessage> cm = parse_code_message(o.details);
    if (!cm || cm->code == 0) return answer(500, cm ? cm->message : o.details);
    if (cm->code == 503) return try_next_runner();
    return answer(static_cast<int>(cm->code), cm->message);
  }
  if (o.grpc_code == kGrpcBusy) return try_next_runner();
  if (o.grpc_code != kGrpcOk || o.messages_after_finished > 0) return internal_error(o);
  return answer(o.status_code > 0 ? o.status_code : 200);
}

}  // namespace

std::string_view lb_mode_name(LbMode mode) { return mode == LbMode::kApril ? "april" : "may"; }

std::optional<LbMode> parse_lb_mode(std::string_view name) {
  if (name == "april" || name == "apr2018") return LbMode::kApril;
  if (name == "may" || name == "may2018") return LbMode::kMay;
  return std::nullopt;
}

LbVerdict lb_verdict(LbMode mode, const CallOutcome& outcome) {
  // The user is gone; nobody receives an answer. 499 as nginx logs it.
  if (outcome.cancelled_by_us) return answer(499, "Client closed request");
  return mode == LbMode::kApril ? april_verdict(outcome) : may_verdict(outcome);
}

std::optional<CodeMessage> parse_code_message(std::string_view details) {
  const size_t colon = details.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == details.size()) {
    return std::nullopt;
  }
  std::string_view number = details.substr(0, colon);
  // Go's ParseInt takes a leading '+', from_chars does not.
  if (number.size() > 1 && number.front() == '+' && number[1] != '-') number.remove_prefix(1);
  CodeMessage out;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), out.code);
  if (ec != std::errc{} || end != number.data() + number.size()) return std::nullopt;
  out.message = std::string(details.substr(colon + 1));
  return out;
}

std::chrono::milliseconds call_timeout_from_json(std::string_view call_json) {
  const nlohmann::json doc = nlohmann::json::parse(call_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return kDefaultCallTimeout;
  const auto it = doc.find("timeout");
  if (it == doc.end() || !it->is_number()) return kDefaultCallTimeout;
  const double seconds = it->get<double>();
  if (!(seconds > 0) || seconds > 1e6) return kDefaultCallTimeout;
  return std::chrono::milliseconds(std::llround(seconds * 1000));
}

}  // namespace fnr::client
