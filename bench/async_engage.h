#pragma once
// Engage calls from one thread on gRPC's async API: --c calls in flight on
// one completion queue, each a May-2018-shaped call (Try and body at once,
// read to the end). The load generator shares the runner's 2 cores, and a
// thread per stream on the sync API costs ~160 µs of CPU per call, as much
// as the runner's supervisor; this driver costs a fraction of that, so the
// calls/s figure measures the runner rather than the client.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "bench/driver.h"
#include "bench/options.h"

namespace fnr::bench {

// nullopt with `error` set when the run cannot start.
[[nodiscard]] std::optional<RunResult> run_async_engage(
    const Options& options, const std::shared_ptr<grpc::Channel>& channel, std::string* error);

}  // namespace fnr::bench
