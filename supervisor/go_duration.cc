#include "supervisor/go_duration.h"

namespace fnr {
namespace {

// `value` in units of 10^-digits, printed with trailing zeros trimmed.
std::string fixed_trimmed(int64_t value, int digits) {
  int64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  std::string out = std::to_string(value / scale);
  std::string frac = std::to_string(value % scale);
  frac.insert(0, static_cast<size_t>(digits) - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) out += "." + frac;
  return out;
}

}  // namespace

std::string go_duration(int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  const uint64_t u = ns < 0 ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  const auto v = static_cast<int64_t>(u);
  if (u < 1000) return sign + std::to_string(v) + "ns";
  if (u < 1000000) return sign + fixed_trimmed(v, 3) + "µs";
  if (u < 1000000000) return sign + fixed_trimmed(v, 6) + "ms";
  const int64_t secs_ns = v % 60000000000LL;
  const int64_t mins = v / 60000000000LL;
  std::string out = sign;
  if (mins >= 60) out += std::to_string(mins / 60) + "h";
  if (mins > 0) out += std::to_string(mins % 60) + "m";
  return out + fixed_trimmed(secs_ns, 9) + "s";
}

}  // namespace fnr
