#include "tests/chaos/flags.h"

#include <stdexcept>

namespace fnr::chaos {

Flags::Flags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      throw std::invalid_argument("expected --name=value, got '" + arg + "'");
    }
    values_[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
}

uint64_t Flags::get(const std::string& name, uint64_t fallback) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  read_[name] = true;
  size_t used = 0;
  const uint64_t v = std::stoull(it->second, &used);
  if (used != it->second.size()) throw std::invalid_argument("--" + name + " wants a number");
  return v;
}

std::string Flags::unused() const {
  std::string out;
  for (const auto& [name, value] : values_) {
    if (read_.count(name) == 0) out += " --" + name;
  }
  return out;
}

}  // namespace fnr::chaos
