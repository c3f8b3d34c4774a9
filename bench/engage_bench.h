#pragma once
// Engage calls as an LB makes them, each thread on its own stream per call.
#include <memory>
#include <vector>

#include "bench/driver.h"
#include "bench/options.h"
#include "client/lb_client.h"

namespace fnr::bench {

// Workers that call clients[index % clients.size()]. Latency is from the
// Try being sent to the stream's end (status received).
WorkerFactory engage_workers(const Options& options,
                             const std::vector<std::unique_ptr<client::LbClient>>& clients);

}  // namespace fnr::bench
