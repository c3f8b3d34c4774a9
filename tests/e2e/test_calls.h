#pragma once
// Call JSON for the end-to-end tests, shaped like what a 2018 LB sends
// (call-model.md), with fn-test-func's behaviour chosen by config.
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fnr::e2e {

// The image every runner harness provides: fn-test-func.
inline constexpr const char* kTestImage = "e2e/test-func:1";

// A fresh, unique, Fn-like call id.
[[nodiscard]] std::string new_call_id();

struct TestCall {
  std::string id = new_call_id();
  std::string image = kTestImage;
  std::string format = "default";
  int timeout_s = 30;
  std::optional<int> memory_mib;  // nullopt: not sent (runner default)
  std::map<std::string, std::string> config;
  std::map<std::string, std::vector<std::string>> headers;
  std::string method = "POST";
  std::string url = "http://127.0.0.1:8080/r/e2e/func";

  TestCall& mode(const std::string& test_mode) {
    config["TEST_MODE"] = test_mode;
    return *this;
  }
  // fn-test-func sleeps `ms` milliseconds before it answers.
  TestCall& sleep_ms(int ms) {
    mode("sleep");
    config["TEST_SLEEP_MS"] = std::to_string(ms);
    return *this;
  }
  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] std::string json() const { return to_json().dump(); }
};

// `n` random bytes, all 256 values possible (binary-safety checks).
[[nodiscard]] std::string random_bytes(size_t n);

}  // namespace fnr::e2e
