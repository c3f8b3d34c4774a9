#include "bench/coldstart_yardsticks.h"

#include <filesystem>
#include <optional>

namespace fnr::bench {
namespace {

constexpr auto kSpawnTimeout = std::chrono::seconds(10);
constexpr const char* kHostTrue = "/bin/true";

}  // namespace

Yardsticks::Yardsticks(const std::string& work, const std::string& rootfs) {
  const std::optional<std::string> runc_path = find_program("runc");
  const std::optional<std::string> crun_path = find_program("crun");
  const std::string bundle = work + "/bundle";
  std::string bundle_error = "neither runc nor crun is installed";
  const bool have_bundle =
      (runc_path || crun_path) &&
      write_true_bundle(runc_path ? *runc_path : *crun_path, bundle, rootfs, &bundle_error);

  if (!runc_path) {
    runc.series.unavailable = "runc is not installed (apt-get install runc)";
  } else if (!have_bundle) {
    runc.series.unavailable = bundle_error;
  } else {
    std::filesystem::create_directories(work + "/runc-state");
    runc_runtime_ =
        std::make_unique<OciRuntime>(*runc_path, bundle, work + "/runc-state", work + "/runc.log");
    runc.run = [this](uint64_t seq) { return runc_runtime_->run(seq); };
  }

  if (!crun_path) {
    crun.series.unavailable = "crun is not installed (apt-get install crun)";
  } else if (!have_bundle) {
    crun.series.unavailable = bundle_error;
  } else {
    std::string error;
    std::filesystem::create_directories(work + "/crun-state");
    crun_helper_ =
        CrunHelper::start({*crun_path, bundle, work + "/crun-state", work + "/crun.log"}, &error);
    if (crun_helper_) {
      crun.run = [this](uint64_t seq) { return crun_helper_->run(seq); };
    } else {
      crun.series.unavailable = error;
    }
  }

  spawn.run = [](uint64_t) { return time_spawn({kHostTrue}, -1, kSpawnTimeout); };
}

}  // namespace fnr::bench
