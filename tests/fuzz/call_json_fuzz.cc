// libFuzzer target: fnr::parse_call and fnr::peek_call_id on arbitrary
// input. Neither may crash or throw; a parsed call must respect its limits,
// and a refused one must say why.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/call.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);

  const fnr::CallLimits limits;
  const fnr::CallParse parsed = fnr::parse_call(json, limits);
  if (parsed.call) {
    const fnr::Call& c = *parsed.call;
    check(!c.id.empty() && c.id.size() <= fnr::kMaxCallIdLength);
    check(c.memory_mib <= limits.max_memory_mib);
    check(c.timeout_s <= limits.max_timeout_s);
    check(c.idle_timeout_s <= limits.max_idle_timeout_s);
    check(c.cpus_milli <= fnr::kMaxCallMilliCpus);
    for (size_t i = 1; i < c.config.size(); ++i) check(c.config[i - 1].first <= c.config[i].first);
  } else {
    check(!parsed.error.empty());
  }

  // Smaller limits take other paths (defaults over maxima, size caps).
  fnr::CallLimits tight;
  tight.max_memory_mib = 64;
  tight.default_memory_mib = 256;
  tight.max_timeout_s = 5;
  tight.max_config_bytes = 16;
  tight.max_header_bytes = 16;
  tight.max_json_bytes = 256;
  const fnr::CallParse small = fnr::parse_call(json, tight);
  if (small.call) check(size <= tight.max_json_bytes);

  const std::string id = fnr::peek_call_id(json);
  (void)id;
  return 0;
}
