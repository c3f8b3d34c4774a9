#pragma once
// The call JSON an Fn 2018 LB would have sent for an invocation made from
// the command line (../shared/spec/call-model.md).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fnr::cli {

struct CallSpec {
  std::string id;  // "" = a fresh one
  std::string image;
  std::string format = "default";
  uint32_t timeout_s = 30;
  uint32_t idle_timeout_s = 30;
  uint32_t memory_mib = 128;
  std::string app = "fn-runnerctl";
  std::string path = "/invoke";
  std::vector<std::pair<std::string, std::string>> config;   // later keys win
  std::vector<std::pair<std::string, std::string>> headers;  // repeated keys add values
  std::string method = "POST";
  std::string url;              // "" = derived from app and path
  int64_t content_length = -1;  // >= 0 adds a Content-Length header, as Go's did
};

// A ULID, like Fn's call ids: 48 bits of Unix milliseconds, 80 random bits,
// Crockford base32, so ids sort by creation time across processes.
[[nodiscard]] std::string new_call_id();

[[nodiscard]] std::string build_call_json(const CallSpec& spec);

}  // namespace fnr::cli
