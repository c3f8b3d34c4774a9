#include "supervisor/slot_key.h"

namespace fnr {

std::string slot_key(const Call& c) {
  // Fields joined by a separator that validated call fields cannot contain
  // (call.cc refuses control bytes), so different calls never collide.
  constexpr char kSep = '\x1f';
  std::string k;
  k.reserve(256);
  for (const std::string* f : {&c.app_id, &c.fn_id, &c.app_name, &c.path, &c.image, &c.format}) {
    k += *f;
    k += kSep;
  }
  for (uint32_t n : {c.memory_mib, c.cpus_milli, c.timeout_s, c.idle_timeout_s, c.tmpfs_mib}) {
    k += std::to_string(n);
    k += kSep;
  }
  for (const auto& [key, value] : c.config) {
    k += key;
    k += '=';
    k += value;
    k += kSep;
  }
  return k;
}

}  // namespace fnr
