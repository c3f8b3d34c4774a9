#pragma once
// A validated Call plus runner settings, as the worker receives it.
#include <chrono>

#include "proto/worker.pb.h"
#include "shared/call.h"
#include "shared/config.h"

namespace fnr {
wire::CallSpec make_call_spec(const Call& call, const Config& config,
                              std::chrono::system_clock::time_point received);
}
