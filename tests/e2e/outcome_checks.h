#pragma once
// Assertions on what an LB saw of a call (client::CallOutcome), phrased as
// runner-protocol.md states the contract, with the whole outcome in the
// failure message.
#include <gtest/gtest.h>

#include <string>

#include "client/lb_client.h"

namespace fnr::e2e {

// Everything an outcome holds except the body, for failure messages.
[[nodiscard]] std::string describe(const client::CallOutcome& out);

// acknowledged{committed=true, details=id, slot_allocation_latency=<Go duration>}.
::testing::AssertionResult committed_ack(const client::CallOutcome& out, const std::string& id);

// result_start 200, data ... eof, finished{success, details=id}, stream OK,
// and no protocol deviation along the way.
::testing::AssertionResult finished_ok(const client::CallOutcome& out, const std::string& id);

// A NACK: acknowledged{committed=false, details=<reason>}, then gRPC 503,
// and nothing else.
::testing::AssertionResult nacked(const client::CallOutcome& out);

// Committed, then finished{success=false, details="<code>:<message...>",
// error_code=<code>}, with the stream ending OK (an error status after
// finished turns the April LB's answer into a 500).
::testing::AssertionResult failed_with(const client::CallOutcome& out, int code,
                                       const std::string& details_prefix);

}  // namespace fnr::e2e
