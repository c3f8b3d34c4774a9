#pragma once
// What a cold call is measured against: `runc run` and `crun run` of
// /bin/true from the image's own root filesystem, and a bare posix_spawn of
// the host's /bin/true. Set up before the bench has any thread (the crun
// helper is forked).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "bench/coldstart_report.h"
#include "bench/crun_helper.h"
#include "bench/oci_runtime.h"
#include "bench/spawn_timer.h"

namespace fnr::bench {

// One contender: a timed run, and where its figures go. No `run` (or an
// `unavailable` series) means it is not measured.
struct Contender {
  Series series;
  std::function<SpawnRun(uint64_t seq)> run;
};

class Yardsticks {
 public:
  // Bundles, state and logs go under `work`; `rootfs` is used in place.
  Yardsticks(const std::string& work, const std::string& rootfs);
  Yardsticks(const Yardsticks&) = delete;
  Yardsticks& operator=(const Yardsticks&) = delete;

  Contender runc{Series("runc"), {}};
  Contender crun{Series("crun"), {}};
  Contender spawn{Series("spawn"), {}};

 private:
  std::unique_ptr<OciRuntime> runc_runtime_;
  std::unique_ptr<CrunHelper> crun_helper_;
};

}  // namespace fnr::bench
