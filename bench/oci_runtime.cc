#include "bench/oci_runtime.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

namespace fnr::bench {
namespace {

constexpr auto kRunTimeout = std::chrono::seconds(20);

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The runtime's complaint, on one line.
std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

}  // namespace

bool write_true_bundle(const std::string& program, const std::string& bundle,
                       const std::string& rootfs, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(bundle, ec);
  const std::string config_path = bundle + "/config.json";
  const std::string log_path = bundle + "/spec.log";
  {
    const UniqueFd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    const SpawnRun r = time_spawn({program, "spec", "--bundle", bundle}, log.get(), kRunTimeout);
    if (!r.ok) {
      *error = program + " spec: " + r.error + ": " + last_line(read_text(log_path));
      return false;
    }
  }
  std::filesystem::remove(log_path, ec);
  try {
    nlohmann::json config = nlohmann::json::parse(read_text(config_path));
    config["process"]["terminal"] = false;
    config["process"]["args"] = nlohmann::json::array({"/bin/true"});
    config["root"]["path"] = rootfs;
    config["root"]["readonly"] = true;
    config["hostname"] = "fnr-bench";
    std::ofstream out(config_path, std::ios::trunc);
    out << config.dump(1);
    if (!out) {
      *error = "cannot write " + config_path;
      return false;
    }
  } catch (const nlohmann::json::exception& e) {
    *error = program + " spec wrote an unreadable " + config_path + ": " + e.what();
    return false;
  }
  return true;
}

OciRuntime::OciRuntime(std::string program, std::string bundle, std::string state_root,
                       const std::string& log_path)
    : program_(std::move(program)),
      bundle_(std::move(bundle)),
      state_root_(std::move(state_root)),
      id_prefix_("fnr-coldstart-" + std::to_string(getpid()) + "-"),
      log_path_(log_path),
      log_(open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600)) {}

OciRuntime::~OciRuntime() { remove_leftovers(); }

SpawnRun OciRuntime::run(uint64_t seq) {
  // Emptied first, so a failure's message is this run's.
  if (log_) (void)!ftruncate(log_.get(), 0);
  SpawnRun r = time_spawn({program_, "--root", state_root_, "run", "--bundle", bundle_,
                           id_prefix_ + std::to_string(seq)},
                          log_.get(), kRunTimeout);
  if (!r.ok) {
    const std::string said = last_line(read_text(log_path_));
    if (!said.empty()) r.error += ": " + said;
  }
  return r;
}

void OciRuntime::remove_leftovers() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state_root_, ec)) {
    if (!entry.is_directory(ec)) continue;
    (void)time_spawn(
        {program_, "--root", state_root_, "delete", "--force", entry.path().filename().string()},
        log_.get(), kRunTimeout);
  }
}

}  // namespace fnr::bench
