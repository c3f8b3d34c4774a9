#pragma once
// The call JSON of TryCall.models_call_json (../shared/spec/call-model.md)
// turned into a validated struct. Parsing happens once, in the supervisor;
// workers receive the struct as a wire::CallSpec.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fnr {

// Fn's models.MaxMilliCPUs (1024 cores): larger cpus values are rejected, as
// Fn's API would have.
inline constexpr uint32_t kMaxCallMilliCpus = 1024000;

// Longest call id accepted; Fn ids are 26-character ULIDs.
inline constexpr size_t kMaxCallIdLength = 128;

struct CallLimits {
  uint32_t default_memory_mib = 128;
  uint32_t max_memory_mib = 8192;  // also capped by the runner's total
  uint32_t default_timeout_s = 30;
  uint32_t max_timeout_s = 300;
  uint32_t default_idle_timeout_s = 30;
  uint32_t max_idle_timeout_s = 3600;
  size_t max_config_bytes = 64UL * 1024;  // sum of config keys + values
  size_t max_header_bytes = 64UL * 1024;  // sum of header names + values
  size_t max_json_bytes = 1U << 20;
  bool operator==(const CallLimits&) const = default;
};

struct Call {
  std::string id;
  std::string app_id;
  std::string app_name;
  std::string fn_id;
  std::string path;
  std::string image;
  std::string type = "sync";
  std::string format;  // "default", "http", "json", "http-stream"
  uint32_t timeout_s = 0;
  uint32_t idle_timeout_s = 0;
  uint32_t memory_mib = 0;
  uint32_t cpus_milli = 0;                                  // 0 = no CPU quota
  uint32_t tmpfs_mib = 0;                                   // 0 = runner default
  std::vector<std::pair<std::string, std::string>> config;  // sorted by key
  std::vector<std::pair<std::string, std::vector<std::string>>> headers;
  std::string method;
  std::string url;
};

struct CallParse {
  std::optional<Call> call;
  std::string error;  // set when !call: a reason fit for a NACK
};

// Never throws. Unknown fields are ignored, missing ones take the defaults in
// `limits`; every rule of call-model.md is checked.
[[nodiscard]] CallParse parse_call(std::string_view json, const CallLimits& limits);

// The best-effort id of a call JSON that failed to parse, for log lines.
[[nodiscard]] std::string peek_call_id(std::string_view json);

}  // namespace fnr
