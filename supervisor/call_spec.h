#pragma once
// A validated Call plus runner settings, as the worker receives it.
#include <chrono>

#include "proto/worker.pb.h"
#include "shared/call.h"
#include "shared/cgroup.h"
#include "shared/config.h"

namespace fnr {
wire::CallSpec make_call_spec(const Call& call, const Config& config, const CgroupLayout& cgroups,
                              const std::string& sandbox_id, const std::string& runtime_dir,
                              std::chrono::system_clock::time_point received,
                              std::chrono::system_clock::time_point client_deadline);
}
