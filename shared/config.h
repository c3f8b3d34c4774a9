#pragma once
// Runner configuration: defaults, then the JSON file, then Fn's environment
// names (FN_*), then command-line flags; later sources win. Every key is
// documented in README.md ("Configuration").
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/call.h"

namespace fnr {

struct TlsConfig {
  std::string cert;       // FN_NODE_CERT
  std::string key;        // FN_NODE_CERT_KEY
  std::string authority;  // FN_NODE_CERT_AUTHORITY
  [[nodiscard]] bool enabled() const { return !cert.empty() || !key.empty() || !authority.empty(); }
  bool operator==(const TlsConfig&) const = default;
};

// How functions are contained (worker/sandbox/).
struct SandboxConfig {
  bool enabled = true;   // false: plain child processes (development only)
  uint32_t uid = 65534;  // the function's uid/gid (nobody)
  uint32_t gid = 65534;
  bool host_network = false;                   // false: a private network namespace, loopback only
  uint32_t pids_max = 256;                     // per container
  uint32_t nofile = 1024;                      // RLIMIT_NOFILE
  uint32_t tmpfs_mib = 64;                     // /tmp size when the call sets no tmpfs_size
  std::string runtime_dir = "/run/fn-runner";  // per-container scratch (socket dirs)
  bool operator==(const SandboxConfig&) const = default;
};

struct Config {
  std::string grpc_address = "0.0.0.0:9190";  // FN_GRPC_PORT sets the port
  TlsConfig tls;
  uint64_t max_total_memory_bytes = 0;  // 0 = detect
  std::string ledger_name = "fn-runner-ledger";
  uint32_t ledger_entries = 4096;
  std::string images_dir = "/var/lib/fn-runner/images";
  std::string worker_path;  // "" = fn-runner-worker beside fn-runner
  std::string log_level = "info";
  uint32_t drain_timeout_s = 30;
  uint64_t max_response_bytes = 64ULL << 20;  // FN_MAX_RESPONSE_SIZE
  uint64_t max_request_bytes = 64ULL << 20;   // body from the LB; 413 past it
  // A function's response status line and headers (FN_MAX_HDR_RESPONSE_SIZE).
  uint32_t max_response_header_bytes = 64U << 10;
  // A hot container's time to become ready before 504 (Fn: 5 s).
  uint32_t container_start_timeout_ms = 5000;
  uint32_t kill_grace_ms = 2000;  // worker exit grace after a cancel
  uint32_t spare_workers = 2;     // workers started ahead of demand (cold-start latency)
  // Threads serving gRPC, each polling its own completion queue. One keeps
  // a hot call's gRPC work on one thread; more spread calls over cores.
  uint32_t grpc_threads = 1;
  std::string metrics_address;  // "IP:PORT" serving GET /metrics; "" = off
  CallLimits call_limits;
  SandboxConfig sandbox;    // JSON key "call"
  std::string config_file;  // the file that was loaded, "" if none (for logs)
};

struct ConfigLoad {
  std::optional<Config> config;
  std::string error;
};

// `path` may be empty (no file). `env` is consulted through getenv.
// `args` are flags like --config=PATH, --grpc-address=HOST:PORT,
// --images-dir=DIR, --log-level=LEVEL, --ledger-name=NAME,
// --max-total-memory-bytes=N, --worker=PATH, --drain-timeout=S,
// --metrics-address=IP:PORT.
//
// `args` excludes argv[0], and every flag takes the --name=VALUE form. The
// file is --config=PATH, else $FN_RUNNER_CONFIG, else none; it is JSON with
// the field names above (plus tls.{cert,key,authority} and call.{...} with
// the CallLimits names) and may carry // and /* */ comments. Unknown keys are
// errors, to catch typos. Empty environment variables count as unset.
// Relative paths (images_dir, worker_path, TLS files) are kept as given; the
// supervisor resolves them against its working directory. On failure the
// error reads "config: <reason>".
[[nodiscard]] ConfigLoad load_config(const std::vector<std::string>& args);

}  // namespace fnr
