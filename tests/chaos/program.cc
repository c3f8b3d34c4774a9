#include "tests/chaos/program.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

namespace fnr::chaos {

int run_program(const char* name, int argc, char** argv,
                const std::function<void(const Flags&)>& read_flags,
                const std::function<int()>& run) {
  if (::geteuid() != 0) {
    std::printf("SKIPPED LOUDLY: %s runs the sandboxed runner, which needs root\n", name);
    return 77;
  }
  try {
    const Flags flags(argc, argv);
    read_flags(flags);
    if (const std::string typos = flags.unused(); !typos.empty()) {
      std::fprintf(stderr, "unknown flags:%s\n", typos.c_str());
      return 2;
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "%s: %s\n", name, ex.what());
    return 2;
  }
  // A broken stream must not kill us with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  return run();
}

int print_verdict(const std::vector<std::string>& leaks, const std::vector<std::string>& failures,
                  const std::function<std::string()>& failure_detail) {
  std::printf("leaks found: %zu\n", leaks.size());
  for (const std::string& l : leaks) std::printf("  LEAK: %s\n", l.c_str());
  for (const std::string& f : failures) std::printf("  FAIL: %s\n", f.c_str());
  const bool ok = leaks.empty() && failures.empty();
  if (!ok && failure_detail) std::printf("%s", failure_detail().c_str());
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace fnr::chaos
