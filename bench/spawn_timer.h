#pragma once
// Times one program from posix_spawn to reaped, the way a caller that
// starts a fresh process per request pays for it.
#include <signal.h>
#include <spawn.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fnr::bench {

// posix_spawn's file actions and attributes, released with the object;
// SIGPIPE goes back to its default in the child (the bench ignores it).
class SpawnSetup {
 public:
  SpawnSetup();
  ~SpawnSetup();
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
};

struct SpawnRun {
  int64_t ns = 0;     // posix_spawn called -> child reaped
  bool ok = false;    // ran and exited 0
  std::string error;  // why not ok: spawn failure, "exit 1", "signal 9", "timed out"
};

// Runs argv[0] (an absolute path) with stdin on /dev/null and stdout and
// stderr on `out_fd` (inherited when negative); kills it past `timeout`.
SpawnRun time_spawn(const std::vector<std::string>& argv, int out_fd,
                    std::chrono::milliseconds timeout);

// `name` searched in $PATH (then /usr/sbin, /sbin: runc lives there), so the
// search is not part of what is timed; nullopt when not found.
std::optional<std::string> find_program(const std::string& name);

}  // namespace fnr::bench
