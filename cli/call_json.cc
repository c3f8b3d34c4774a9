#include "cli/call_json.h"

#include <array>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

namespace fnr::cli {

std::string new_call_id() {
  static constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  std::random_device rd;
  // 128 bits: 48 of time on top, 80 random below.
  const uint64_t r_hi = (static_cast<uint64_t>(rd()) << 32 | rd()) & 0xFFFF;
  const uint64_t r_lo = static_cast<uint64_t>(rd()) << 32 | rd();
  const uint64_t hi = ms << 16 | r_hi;
  const uint64_t lo = r_lo;
  std::string id(26, '0');
  // 26 base32 digits cover 130 bits; the top two are always zero.
  for (int i = 25; i >= 0; --i) {
    const int bit = (25 - i) * 5;  // position of this digit's lowest bit
    uint64_t v = 0;
    if (bit < 64) {
      v = lo >> bit;
      if (bit > 59) v |= hi << (64 - bit);
    } else if (bit < 128) {
      v = hi >> (bit - 64);
    }
    id[static_cast<size_t>(i)] = kCrockford[v & 31];
  }
  return id;
}

std::string build_call_json(const CallSpec& spec) {
  using Json = nlohmann::ordered_json;
  // The LB put these in every call's config; later --config values win.
  Json config = Json::object();
  config["FN_APP_NAME"] = spec.app;
  config["FN_FORMAT"] = spec.format;
  config["FN_MEMORY"] = std::to_string(spec.memory_mib);
  config["FN_PATH"] = spec.path;
  config["FN_TYPE"] = "sync";
  for (const auto& [k, v] : spec.config) config[k] = v;

  Json headers = Json::object();
  for (const auto& [k, v] : spec.headers) headers[k].push_back(v);
  if (spec.content_length >= 0 && !headers.contains("Content-Length")) {
    headers["Content-Length"] = Json::array({std::to_string(spec.content_length)});
  }

  Json call;
  call["id"] = spec.id.empty() ? new_call_id() : spec.id;
  call["app_id"] = spec.app;
  call["path"] = spec.path;
  call["image"] = spec.image;
  call["type"] = "sync";
  call["format"] = spec.format;
  call["url"] = spec.url.empty() ? "http://fn-runnerctl/r/" + spec.app + spec.path : spec.url;
  call["method"] = spec.method;
  call["timeout"] = spec.timeout_s;
  call["idle_timeout"] = spec.idle_timeout_s;
  call["memory"] = spec.memory_mib;
  call["config"] = std::move(config);
  call["headers"] = std::move(headers);
  return call.dump();
}

}  // namespace fnr::cli
