#include "tests/e2e/outcome_checks.h"

#include <regex>
#include <sstream>

namespace fnr::e2e {
namespace {

// Go's time.Duration.String(): "0s", "153.2µs", "1.5ms", "2s", "1m2.5s".
bool is_go_duration(const std::string& s) {
  static const std::regex kGo("^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|\xC2\xB5s|\xCE\xBCs|ns))+$");
  return !s.empty() && s.back() == 's' && std::regex_match(s, kGo);
}

}  // namespace

std::string describe(const client::CallOutcome& out) {
  std::ostringstream o;
  o << "{first_message=" << out.first_message << " acked=" << out.acked
    << " committed=" << out.committed << " ack_details='" << out.ack_details << "' slot_latency='"
    << out.slot_latency << "' result_start=" << out.has_result_start
    << " status_code=" << out.status_code << " body_bytes=" << out.body_bytes
    << " eof=" << out.saw_eof << " finished=" << out.finished
    << " finished_success=" << out.finished_success << " details='" << out.details
    << "' error_code=" << out.error_code << " error_str='" << out.error_str
    << "' grpc=" << out.grpc_code << " '" << out.grpc_message
    << "' cancelled_by_us=" << out.cancelled_by_us << " protocol_error='" << out.protocol_error
    << "' client_error='" << out.client_error << "' latency_us=" << out.latency.count() << "}";
  return o.str();
}

::testing::AssertionResult committed_ack(const client::CallOutcome& out, const std::string& id) {
  if (!out.acked || !out.committed) {
    return ::testing::AssertionFailure() << "no committed ack: " << describe(out);
  }
  if (out.first_message != "acknowledged") {
    return ::testing::AssertionFailure() << "ack is not the first message: " << describe(out);
  }
  if (out.ack_details != id) {
    return ::testing::AssertionFailure()
           << "ack details should be the call id " << id << ": " << describe(out);
  }
  if (!is_go_duration(out.slot_latency)) {
    return ::testing::AssertionFailure()
           << "slot_allocation_latency is not a Go duration: " << describe(out);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult finished_ok(const client::CallOutcome& out, const std::string& id) {
  if (!out.success || !out.finished_success || out.grpc_code != 0) {
    return ::testing::AssertionFailure() << "call did not succeed: " << describe(out);
  }
  if (!out.has_result_start || out.status_code != 200) {
    return ::testing::AssertionFailure() << "no result_start 200: " << describe(out);
  }
  if (!out.saw_eof) return ::testing::AssertionFailure() << "no eof frame: " << describe(out);
  if (out.details != id) {
    return ::testing::AssertionFailure()
           << "finished details should be the call id " << id << ": " << describe(out);
  }
  if (!out.protocol_error.empty()) {
    return ::testing::AssertionFailure() << "protocol deviation: " << describe(out);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult nacked(const client::CallOutcome& out) {
  if (!out.acked || out.committed) {
    return ::testing::AssertionFailure()
           << "expected acknowledged{committed=false}: " << describe(out);
  }
  if (out.ack_details.empty()) {
    return ::testing::AssertionFailure() << "NACK without a reason: " << describe(out);
  }
  if (out.grpc_code != 503) {
    return ::testing::AssertionFailure() << "NACK must end with gRPC status 503: " << describe(out);
  }
  if (out.has_result_start || out.finished || out.body_bytes != 0) {
    return ::testing::AssertionFailure() << "NACK followed by a result: " << describe(out);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult failed_with(const client::CallOutcome& out, int code,
                                       const std::string& details_prefix) {
  if (!out.committed) return ::testing::AssertionFailure() << "not committed: " << describe(out);
  if (!out.finished || out.finished_success) {
    return ::testing::AssertionFailure() << "expected finished{success=false}: " << describe(out);
  }
  if (out.details.rfind(details_prefix, 0) != 0) {
    return ::testing::AssertionFailure()
           << "details should start with '" << details_prefix << "': " << describe(out);
  }
  if (out.error_code != code) {
    return ::testing::AssertionFailure()
           << "error_code should be " << code << ": " << describe(out);
  }
  if (out.grpc_code != 0) {
    return ::testing::AssertionFailure()
           << "finished must be followed by status OK: " << describe(out);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace fnr::e2e
