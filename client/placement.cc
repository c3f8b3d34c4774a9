#include "client/placement.h"

#include <algorithm>
#include <thread>

namespace fnr::client {
namespace {

// Both 2018 placers paused this long after a round in which every runner
// said no, which is why a busy runner sees a Try about every 10 ms.
constexpr std::chrono::milliseconds kRetryWait{10};

}  // namespace

Placement place(std::span<LbClient* const> runners, std::string_view call_json,
                std::string_view body, const CallOptions& call_options) {
  using Clock = std::chrono::steady_clock;
  Placement out;
  const auto start = Clock::now();
  auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  };
  if (runners.empty()) {
    out.verdict = {false, 503, "Timed out - server too busy (no runners)"};
    return out;
  }
  const LbMode mode = runners.front()->options().mode;
  std::chrono::microseconds budget = call_timeout_from_json(call_json);
  // April stopped looking at half the timeout, keeping the rest for the run.
  if (mode == LbMode::kApril) budget /= 2;

  for (;;) {
    for (LbClient* runner : runners) {
      ++out.attempts;
      out.last = runner->engage(call_json, BodySource(body), call_options);
      if (!out.last.verdict.try_next_runner) {
        out.verdict = out.last.verdict;
        out.elapsed = elapsed();
        return out;
      }
    }
    const auto remaining = budget - elapsed();
    if (remaining <= std::chrono::microseconds::zero()) break;
    std::this_thread::sleep_for(std::min<std::chrono::microseconds>(kRetryWait, remaining));
  }
  out.verdict = out.last.verdict;  // "try next runner" with no runner left: 503
  out.verdict.try_next_runner = false;
  out.elapsed = elapsed();
  return out;
}

}  // namespace fnr::client
