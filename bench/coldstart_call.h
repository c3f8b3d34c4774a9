#pragma once
// One cold call through the runner: Try (as the May 2018 LB sends it, the
// body right behind it) to the first response byte, for a function whose
// container does not exist yet (the runner keeps no hot containers).
#include <chrono>
#include <cstdint>
#include <string>

#include "bench/options.h"
#include "client/lb_client.h"

namespace fnr::bench {

struct ColdCallTimes {
  bool ok = false;
  std::string error;
  // From the Try being sent (the LB client's origin for its own timings).
  int64_t first_byte_ns = 0;
  int64_t result_start_ns = 0;
  int64_t total_ns = 0;  // to the stream's end
};

class ColdCaller {
 public:
  ColdCaller(client::LbClient& lb, const Options& options, std::string image);
  // The echo function must give the request body back, byte for byte.
  ColdCallTimes call(uint64_t seq);

 private:
  [[nodiscard]] std::string call_json(uint64_t seq) const;

  client::LbClient& lb_;
  const Options& options_;
  std::string image_;
  std::string body_;
  std::string id_prefix_;
};

}  // namespace fnr::bench
