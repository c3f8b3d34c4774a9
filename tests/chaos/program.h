#pragma once
// What the chaos and soak programs do around their own run: refuse without
// root (with ctest's skip code), read --name=value flags and reject typos,
// ignore SIGPIPE, and print the verdict the same way.
#include <functional>
#include <string>
#include <vector>

#include "tests/chaos/flags.h"

namespace fnr::chaos {

// `read_flags` fills the program's settings (it may throw on a bad value);
// then `run` gives the exit code. Exit 77 without root, 2 on bad flags.
int run_program(const char* name, int argc, char** argv,
                const std::function<void(const Flags&)>& read_flags,
                const std::function<int()>& run);

// Prints how many leaks were found, each leak and failure, then PASS or
// FAIL; `failure_detail` (called only on failure) goes before FAIL.
// Returns the exit code: 0 on PASS, 1 on FAIL.
int print_verdict(const std::vector<std::string>& leaks, const std::vector<std::string>& failures,
                  const std::function<std::string()>& failure_detail = {});

}  // namespace fnr::chaos
