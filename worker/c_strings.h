#pragma once
// argv/envp arrays for exec*, built before a fork/clone so that the child
// only reads memory.
#include <string>
#include <vector>

namespace fnr {
inline std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}
}  // namespace fnr
