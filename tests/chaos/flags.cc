#include "tests/chaos/flags.h"

#include <charconv>
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
  const std::string& text = it->second;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    throw std::invalid_argument("--" + name + " wants a number, got '" + text + "'");
  }
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
