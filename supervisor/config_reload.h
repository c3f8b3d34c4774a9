#pragma once
// SIGHUP: read the configuration again exactly as at start (the same flags,
// the same file, the process's environment), and apply what can change
// while calls run. See README.md ("Reloading").
#include <string>
#include <vector>

#include "supervisor/runner_context.h"
#include "supervisor/server_credentials.h"

namespace fnr {

// Makes relative paths absolute against the working directory, as the
// supervisor does at start, so a reload compares like with like.
void resolve_paths(Config& config);

// Live: TLS files (re-read even when their paths did not change), log_level,
// the call limits, max_request_bytes, max_response_bytes,
// max_response_header_bytes, container_start_timeout_ms, drain_timeout_s,
// kill_grace_ms, images_dir. Every other key needs a restart: its change is
// logged and the running value kept. A configuration that does not load,
// validate, or whose TLS files do not read and match, changes nothing.
// `server_tls` is null when the runner serves plaintext. True if applied.
bool reload_config(RunnerContext& ctx, ServerTls* server_tls, const std::vector<std::string>& args);

}  // namespace fnr
