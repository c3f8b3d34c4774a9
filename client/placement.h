#pragma once
// An LB's placement loop over its runner list, so tests can watch a busy
// runner the way production sees it: as a stream of retried Trys.
#include <chrono>
#include <span>
#include <string_view>

#include "client/lb_client.h"

namespace fnr::client {

// The whole placement loop of an LB over its runner list: try each in turn;
// on "try next runner" go on, and after a full round wait ~10 ms. April
// gives up with 503 at half the call timeout, May at the full timeout. The
// body is replayed on every attempt, so it is in memory. All runners must
// share one mode (the first one's is used).
struct Placement {
  CallOutcome last;  // the final attempt's outcome
  int attempts = 0;
  LbVerdict verdict;  // the user's answer
  std::chrono::microseconds elapsed{0};
};
Placement place(std::span<LbClient* const> runners, std::string_view call_json,
                std::string_view body, const CallOptions& call_options = {});

}  // namespace fnr::client
