#include "tests/e2e/test_calls.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>

namespace fnr::e2e {

std::string new_call_id() {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}();
  char buf[64];
  std::snprintf(buf, sizeof buf, "e2e%08x%06d%05u", salt, static_cast<int>(getpid()) % 1000000,
                counter.fetch_add(1) % 100000);
  return buf;
}

nlohmann::json TestCall::to_json() const {
  nlohmann::json j = {
      {"id", id},         {"image", image},     {"type", "sync"},     {"format", format},
      {"path", "/e2e"},   {"method", method},   {"url", url},         {"timeout", timeout_s},
      {"config", config}, {"headers", headers}, {"idle_timeout", 30}, {"app_id", "e2e-app"},
  };
  if (memory_mib) j["memory"] = *memory_mib;
  return j;
}

std::string random_bytes(size_t n) {
  std::mt19937_64 rng(std::random_device{}());
  std::string out(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    for (size_t b = 0; b < 8; ++b) out[i + b] = static_cast<char>((v >> (8 * b)) & 0xFF);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(rng() & 0xFF);
  return out;
}

}  // namespace fnr::e2e
