#pragma once
// --name=value flags for the chaos and soak programs.
#include <cstdint>
#include <map>
#include <string>

namespace fnr::chaos {

class Flags {
 public:
  // Throws std::invalid_argument on anything not --name=value.
  Flags(int argc, char** argv);
  [[nodiscard]] uint64_t get(const std::string& name, uint64_t fallback) const;
  [[nodiscard]] bool has(const std::string& name) const { return values_.count(name) != 0; }
  // Names given but never read: typos.
  [[nodiscard]] std::string unused() const;

 private:
  std::map<std::string, std::string> values_;
  mutable std::map<std::string, bool> read_;
};

}  // namespace fnr::chaos
