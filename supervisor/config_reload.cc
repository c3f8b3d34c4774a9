#include "supervisor/config_reload.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "shared/log.h"

namespace fnr {
namespace {

// Keys fixed for the life of the process: what the listener, the ledger,
// the cgroups, the seccomp filter and the spawner were built from. A change
// is reported and the running value written back into `next`.
std::vector<std::string> keep_restart_keys(const Config& running, Config& next) {
  std::vector<std::string> changed;
  auto keep = [&](const char* key, auto member) {
    if (!(running.*member == next.*member)) {
      changed.emplace_back(key);
      next.*member = running.*member;
    }
  };
  keep("grpc_address", &Config::grpc_address);
  keep("max_total_memory_bytes", &Config::max_total_memory_bytes);
  keep("ledger_name", &Config::ledger_name);
  keep("ledger_entries", &Config::ledger_entries);
  keep("worker_path", &Config::worker_path);
  keep("spare_workers", &Config::spare_workers);
  keep("grpc_threads", &Config::grpc_threads);
  keep("metrics_address", &Config::metrics_address);
  keep("sandbox", &Config::sandbox);
  keep("config_file", &Config::config_file);
  // Plaintext and TLS are different listeners; new files for a TLS
  // listener are fine.
  if (running.tls.enabled() != next.tls.enabled()) {
    changed.emplace_back("tls (plaintext <-> TLS)");
    next.tls = running.tls;
  }
  return changed;
}

std::vector<std::string> live_changes(const Config& a, const Config& b) {
  std::vector<std::string> changed;
  auto note = [&](const char* key, auto member) {
    if (!(a.*member == b.*member)) changed.emplace_back(key);
  };
  note("tls", &Config::tls);
  note("log_level", &Config::log_level);
  note("call", &Config::call_limits);
  note("max_request_bytes", &Config::max_request_bytes);
  note("max_response_bytes", &Config::max_response_bytes);
  note("max_response_header_bytes", &Config::max_response_header_bytes);
  note("container_start_timeout_ms", &Config::container_start_timeout_ms);
  note("drain_timeout_s", &Config::drain_timeout_s);
  note("kill_grace_ms", &Config::kill_grace_ms);
  note("images_dir", &Config::images_dir);
  return changed;
}

std::string joined(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? "none" : out;
}

}  // namespace

void resolve_paths(Config& config) {
  config.images_dir = std::filesystem::absolute(config.images_dir).string();
}

bool reload_config(RunnerContext& ctx, ServerTls* server_tls,
                   const std::vector<std::string>& args) {
  static unsigned reloads = 0;
  const unsigned n = ++reloads;
  ConfigLoad loaded = load_config(args);
  if (!loaded.config) {
    spdlog::error("configuration reload #{} failed, keeping the running configuration: {}", n,
                  loaded.error);
    return false;
  }
  auto next = std::make_shared<Config>(std::move(*loaded.config));
  resolve_paths(*next);
  const std::shared_ptr<const Config> running = ctx.config.get();
  const std::vector<std::string> restart = keep_restart_keys(*running, *next);
  // Read and check the certificates before anything changes: a broken set
  // leaves everything as it was.
  std::optional<TlsMaterial> tls;
  if (server_tls != nullptr && next->tls.enabled()) {
    try {
      tls = read_tls_material(next->tls);
    } catch (const std::exception& e) {
      spdlog::error("configuration reload #{} failed, keeping the running configuration: {}", n,
                    e.what());
      return false;
    }
  }
  if (!restart.empty()) {
    spdlog::warn(
        "configuration reload #{}: {} changed but needs a restart; keeping the running "
        "value",
        n, joined(restart));
  }
  const std::vector<std::string> changed = live_changes(*running, *next);
  if (tls) server_tls->update(std::move(*tls));
  set_log_level(next->log_level);
  ctx.config.set(std::move(next));
  spdlog::info("configuration reloaded (#{}): changed: {}{}", n, joined(changed),
               server_tls != nullptr ? "; TLS certificates re-read for new connections" : "");
  return true;
}

}  // namespace fnr
