#pragma once
// Runs the real fn-runnerctl binary, as an operator would, and keeps what
// it printed.
#include <string>
#include <vector>

namespace fnr::e2e {

struct CtlResult {
  int exit_code = -1;  // -1: did not run or did not exit normally
  std::string output;  // stdout and stderr
};

// Blocks until fn-runnerctl exits.
CtlResult run_ctl(const std::vector<std::string>& args);

}  // namespace fnr::e2e
