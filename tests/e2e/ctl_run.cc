#include "tests/e2e/ctl_run.h"

#include <sys/wait.h>

#include <cstdio>

namespace fnr::e2e {
namespace {

// Single quotes, so paths and names reach the program unchanged.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

CtlResult run_ctl(const std::vector<std::string>& args) {
  std::string cmd = quoted(std::string(FNR_BIN_DIR) + "/fn-runnerctl");
  for (const auto& a : args) cmd += " " + quoted(a);
  cmd += " 2>&1";
  CtlResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

}  // namespace fnr::e2e
