#pragma once
// An OCI runtime (runc, crun) starting /bin/true from an image's root
// filesystem: the yardstick the runner's cold call is compared with.
#include <cstdint>
#include <string>

#include "bench/spawn_timer.h"
#include "shared/unique_fd.h"

namespace fnr::bench {

// Writes `bundle`/config.json: what `<program> spec` generates (pid, net,
// ipc, uts and mount namespaces, dropped capabilities, no_new_privs, masked
// paths), edited to run /bin/true without a terminal from `rootfs` (an
// absolute path, used in place, so it must hold /bin/true and the mount
// points) mounted read-only. False with `error` set on failure.
bool write_true_bundle(const std::string& program, const std::string& bundle,
                       const std::string& rootfs, std::string* error);

class OciRuntime {
 public:
  // `program`: absolute path of runc or crun. Its state lives under
  // `state_root` (--root), its output goes to `log_path`.
  OciRuntime(std::string program, std::string bundle, std::string state_root,
             const std::string& log_path);
  ~OciRuntime();
  OciRuntime(const OciRuntime&) = delete;
  OciRuntime& operator=(const OciRuntime&) = delete;

  // `program --root STATE run --bundle BUNDLE <id prefix>-<seq>`, timed
  // from spawn to reaped; the error has the runtime's own words.
  SpawnRun run(uint64_t seq);
  // `delete --force` whatever a killed or failed run left in the state root.
  void remove_leftovers();

 private:
  std::string program_;
  std::string bundle_;
  std::string state_root_;
  std::string id_prefix_;
  std::string log_path_;
  UniqueFd log_;
};

}  // namespace fnr::bench
