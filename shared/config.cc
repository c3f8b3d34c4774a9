#include "shared/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "shared/ip_address.h"
#include "shared/log.h"

namespace fnr {
namespace {

using json = nlohmann::json;

// An empty optional means success.
using Error = std::optional<std::string>;

// A config file is a few KiB; the cap keeps a mistaken --config=/dev/zero from
// eating memory.
constexpr size_t kMaxConfigFileBytes = 1U << 20;
// More gRPC threads than this is a typo, not a tuning.
constexpr uint32_t kMaxGrpcThreads = 64;

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// Strict: decimal digits only, no sign, no spaces, no suffix, no overflow.
template <typename T>
std::optional<T> parse_uint(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// Reads the known keys of one JSON object, keeping the first error, and
// reports any key it was not asked about: in a config file that is a typo.
class ObjectReader {
 public:
  ObjectReader(const json& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  void string(const char* key, std::string& out) {
    const json* v = find(key);
    if (v == nullptr) return;
    if (!v->is_string()) return fail(fmt::format("key {} must be a string", name(key)));
    out = v->get<std::string>();
  }

  void boolean(const char* key, bool& out) {
    const json* v = find(key);
    if (v == nullptr) return;
    if (!v->is_boolean()) return fail(fmt::format("key {} must be true or false", name(key)));
    out = v->get<bool>();
  }

  template <typename T>
  void uint(const char* key, T& out) {
    const json* v = find(key);
    if (v == nullptr) return;
    if (!v->is_number_unsigned()) {
      return fail(fmt::format("key {} must be a non-negative integer", name(key)));
    }
    auto u = v->get<uint64_t>();
    if (u > std::numeric_limits<T>::max()) {
      return fail(fmt::format("key {} is {}, over the maximum {}", name(key), u,
                              std::numeric_limits<T>::max()));
    }
    out = static_cast<T>(u);
  }

  // nullptr when absent or not an object (the latter recorded as an error).
  const json* object(const char* key) {
    const json* v = find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
      fail(fmt::format("key {} must be an object", name(key)));
      return nullptr;
    }
    return v;
  }

  void absorb(const Error& nested) {
    if (nested && !error_) error_ = nested;
  }

  // The first error met, else the first key nobody asked for.
  [[nodiscard]] Error finish() const {
    if (error_) return error_;
    for (const auto& [key, value] : obj_.items()) {
      if (known_.count(key) == 0) return fmt::format("unknown key {}", name(key));
    }
    return std::nullopt;
  }

  [[nodiscard]] std::string name(std::string_view key) const {
    return fmt::format("\"{}{}\"", prefix_, key);
  }

 private:
  const json* find(const char* key) {
    known_.insert(key);
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }

  void fail(std::string reason) {
    if (!error_) error_ = std::move(reason);
  }

  const json& obj_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
  Error error_;
};

Error apply_tls_json(const json& obj, TlsConfig& tls) {
  ObjectReader r(obj, "tls.");
  r.string("cert", tls.cert);
  r.string("key", tls.key);
  r.string("authority", tls.authority);
  return r.finish();
}

Error apply_call_json(const json& obj, CallLimits& limits) {
  ObjectReader r(obj, "call.");
  r.uint("default_memory_mib", limits.default_memory_mib);
  r.uint("max_memory_mib", limits.max_memory_mib);
  r.uint("default_timeout_s", limits.default_timeout_s);
  r.uint("max_timeout_s", limits.max_timeout_s);
  r.uint("default_idle_timeout_s", limits.default_idle_timeout_s);
  r.uint("max_idle_timeout_s", limits.max_idle_timeout_s);
  r.uint("max_config_bytes", limits.max_config_bytes);
  r.uint("max_header_bytes", limits.max_header_bytes);
  r.uint("max_json_bytes", limits.max_json_bytes);
  return r.finish();
}

Error apply_sandbox_json(const json& obj, SandboxConfig& sb) {
  ObjectReader r(obj, "sandbox.");
  r.boolean("enabled", sb.enabled);
  r.uint("uid", sb.uid);
  r.uint("gid", sb.gid);
  r.boolean("host_network", sb.host_network);
  r.uint("pids_max", sb.pids_max);
  r.uint("nofile", sb.nofile);
  r.uint("tmpfs_mib", sb.tmpfs_mib);
  r.string("runtime_dir", sb.runtime_dir);
  return r.finish();
}

Error apply_json(const json& doc, Config& c) {
  if (!doc.is_object()) return "the top level must be an object";
  ObjectReader r(doc, "");
  r.string("grpc_address", c.grpc_address);
  if (const json* tls = r.object("tls")) r.absorb(apply_tls_json(*tls, c.tls));
  r.uint("max_total_memory_bytes", c.max_total_memory_bytes);
  r.string("ledger_name", c.ledger_name);
  r.uint("ledger_entries", c.ledger_entries);
  r.string("images_dir", c.images_dir);
  r.string("worker_path", c.worker_path);
  r.string("log_level", c.log_level);
  r.uint("drain_timeout_s", c.drain_timeout_s);
  r.uint("max_response_bytes", c.max_response_bytes);
  r.uint("max_request_bytes", c.max_request_bytes);
  r.uint("max_response_header_bytes", c.max_response_header_bytes);
  r.uint("container_start_timeout_ms", c.container_start_timeout_ms);
  r.uint("kill_grace_ms", c.kill_grace_ms);
  r.uint("spare_workers", c.spare_workers);
  r.uint("grpc_threads", c.grpc_threads);
  r.string("metrics_address", c.metrics_address);
  if (const json* call = r.object("call")) r.absorb(apply_call_json(*call, c.call_limits));
  if (const json* sb = r.object("sandbox")) r.absorb(apply_sandbox_json(*sb, c.sandbox));
  return r.finish();
}

Error read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fmt::format("cannot open: {}", std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return "read failed";
  out = std::move(buf).str();
  if (out.size() > kMaxConfigFileBytes) {
    return fmt::format("{} bytes, over the limit of {}", out.size(), kMaxConfigFileBytes);
  }
  return std::nullopt;
}

Error apply_file(const std::string& path, Config& c) {
  std::string text;
  Error err = read_file(path, text);
  if (!err) {
    // Comments are allowed so the example file can explain itself. This runs
    // once at start-up, so the parser's exception is the simplest way to get
    // its line and column.
    try {
      err = apply_json(json::parse(text, nullptr, /*allow_exceptions=*/true,
                                   /*ignore_comments=*/true),
                       c);
    } catch (const json::parse_error& e) {
      std::string_view what = e.what();
      if (auto pos = what.find("] "); pos != std::string_view::npos) what.remove_prefix(pos + 2);
      err = std::string(what);
    }
  }
  if (err) return fmt::format("{}: {}", path, *err);
  c.config_file = path;
  return std::nullopt;
}

// An empty variable counts as unset: `FN_X= fn-runner` is how shells unset.
std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

bool is_port(std::string_view text) { return parse_uint<uint16_t>(text).has_value(); }

// "host:port" or "[v6]:port"; false when there is no port part.
bool split_host_port(std::string_view address, std::string_view& host, std::string_view& port) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return false;
  auto bracket = address.rfind(']');
  if (bracket != std::string_view::npos && bracket > colon) return false;
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
  return true;
}

bool is_unix_address(std::string_view address) {
  return address.rfind("unix:", 0) == 0 || address.rfind("unix-abstract:", 0) == 0;
}

// Fn's FN_GRPC_PORT names only a port; the host (which interface to bind)
// stays whatever the file or the default says.
Error set_grpc_port(std::string_view port, Config& c) {
  if (!is_port(port)) return fmt::format("FN_GRPC_PORT \"{}\" is not a port number", port);
  if (is_unix_address(c.grpc_address)) {
    return fmt::format("FN_GRPC_PORT cannot apply to grpc_address \"{}\"", c.grpc_address);
  }
  std::string_view host;
  std::string_view old_port;
  if (!split_host_port(c.grpc_address, host, old_port)) host = c.grpc_address;
  c.grpc_address = fmt::format("{}:{}", host, port);
  return std::nullopt;
}

template <typename T>
Error set_uint(std::string_view source, std::string_view text, T& out) {
  auto v = parse_uint<T>(text);
  if (!v) {
    return fmt::format("{} \"{}\" is not an unsigned integer (at most {})", source, text,
                       std::numeric_limits<T>::max());
  }
  out = *v;
  return std::nullopt;
}

Error apply_env(Config& c) {
  if (auto v = env("FN_GRPC_PORT")) {
    if (auto e = set_grpc_port(*v, c)) return e;
  }
  struct StringVar {
    const char* name;
    std::string* out;
  };
  for (auto [name, out] :
       {StringVar{"FN_NODE_CERT", &c.tls.cert}, StringVar{"FN_NODE_CERT_KEY", &c.tls.key},
        StringVar{"FN_NODE_CERT_AUTHORITY", &c.tls.authority},
        StringVar{"FN_LOG_LEVEL", &c.log_level}, StringVar{"FN_IMAGES_DIR", &c.images_dir},
        StringVar{"FN_RUNNER_LEDGER", &c.ledger_name},
        StringVar{"FN_RUNNER_WORKER", &c.worker_path},
        StringVar{"FN_METRICS_ADDRESS", &c.metrics_address}}) {
    if (auto v = env(name)) *out = std::move(*v);
  }
  if (auto v = env("FN_MAX_TOTAL_MEMORY_BYTES")) {
    if (auto e = set_uint("FN_MAX_TOTAL_MEMORY_BYTES", *v, c.max_total_memory_bytes)) return e;
  }
  if (auto v = env("FN_MAX_RESPONSE_SIZE")) {
    if (auto e = set_uint("FN_MAX_RESPONSE_SIZE", *v, c.max_response_bytes)) return e;
  }
  if (auto v = env("FN_MAX_HDR_RESPONSE_SIZE")) {
    if (auto e = set_uint("FN_MAX_HDR_RESPONSE_SIZE", *v, c.max_response_header_bytes)) return e;
  }
  return std::nullopt;
}

struct Flag {
  std::string_view name;
  Error (*apply)(std::string_view flag, std::string_view value, Config& c);
};

Error set_string(std::string_view value, std::string& out) {
  out = value;
  return std::nullopt;
}

// --config is read before everything else (the file is the lowest layer but
// one), so here it only needs to be recognised.
constexpr Flag kFlags[] = {
    {"--config", [](std::string_view, std::string_view, Config&) -> Error { return {}; }},
    {"--grpc-address",
     [](std::string_view, std::string_view v, Config& c) { return set_string(v, c.grpc_address); }},
    {"--images-dir",
     [](std::string_view, std::string_view v, Config& c) { return set_string(v, c.images_dir); }},
    {"--log-level",
     [](std::string_view, std::string_view v, Config& c) { return set_string(v, c.log_level); }},
    {"--ledger-name",
     [](std::string_view, std::string_view v, Config& c) { return set_string(v, c.ledger_name); }},
    {"--worker",
     [](std::string_view, std::string_view v, Config& c) { return set_string(v, c.worker_path); }},
    {"--max-total-memory-bytes",
     [](std::string_view f, std::string_view v, Config& c) {
       return set_uint(f, v, c.max_total_memory_bytes);
     }},
    {"--drain-timeout", [](std::string_view f, std::string_view v,
                           Config& c) { return set_uint(f, v, c.drain_timeout_s); }},
    {"--metrics-address", [](std::string_view, std::string_view v,
                             Config& c) { return set_string(v, c.metrics_address); }},
    {"--grpc-threads", [](std::string_view f, std::string_view v,
                          Config& c) { return set_uint(f, v, c.grpc_threads); }},
};

struct ParsedFlag {
  const Flag* flag = nullptr;
  std::string_view value;
};

std::optional<ParsedFlag> parse_flag(std::string_view arg, std::string& error) {
  auto eq = arg.find('=');
  std::string_view name = arg.substr(0, eq);
  const auto* flag = std::find_if(std::begin(kFlags), std::end(kFlags),
                                  [&](const Flag& f) { return f.name == name; });
  if (arg.rfind("--", 0) != 0 || flag == std::end(kFlags)) {
    error = fmt::format("unknown flag \"{}\"", name);
    return std::nullopt;
  }
  if (eq == std::string_view::npos) {
    error = fmt::format("flag {} needs a value: {}=VALUE", name, name);
    return std::nullopt;
  }
  return ParsedFlag{flag, arg.substr(eq + 1)};
}

// Checks every flag and returns the --config path (the last one wins).
Error scan_flags(const std::vector<std::string>& args, std::optional<std::string>& config_path) {
  for (const auto& arg : args) {
    std::string error;
    auto parsed = parse_flag(arg, error);
    if (!parsed) return error;
    if (parsed->flag->name == "--config") {
      if (parsed->value.empty()) return "flag --config needs a path";
      config_path = std::string(parsed->value);
    }
  }
  return std::nullopt;
}

Error apply_flags(const std::vector<std::string>& args, Config& c) {
  for (const auto& arg : args) {
    std::string error;
    auto parsed = parse_flag(arg, error);
    if (!parsed) return error;
    if (auto e = parsed->flag->apply(parsed->flag->name, parsed->value, c)) return e;
  }
  return std::nullopt;
}

Error validate_address(const Config& c) {
  if (is_unix_address(c.grpc_address)) return std::nullopt;
  std::string_view host;
  std::string_view port;
  if (!split_host_port(c.grpc_address, host, port) || host.empty() || !is_port(port)) {
    return fmt::format("grpc_address \"{}\" is not HOST:PORT", c.grpc_address);
  }
  return std::nullopt;
}

Error validate_call_limits(const CallLimits& l) {
  if (l.default_memory_mib == 0 || l.default_memory_mib > l.max_memory_mib) {
    return fmt::format("call.default_memory_mib {} must be in 1..call.max_memory_mib ({})",
                       l.default_memory_mib, l.max_memory_mib);
  }
  if (l.default_timeout_s == 0 || l.default_timeout_s > l.max_timeout_s) {
    return fmt::format("call.default_timeout_s {} must be in 1..call.max_timeout_s ({})",
                       l.default_timeout_s, l.max_timeout_s);
  }
  // An idle default of 0 is allowed: it means containers never stay hot.
  if (l.default_idle_timeout_s > l.max_idle_timeout_s) {
    return fmt::format("call.default_idle_timeout_s {} exceeds call.max_idle_timeout_s ({})",
                       l.default_idle_timeout_s, l.max_idle_timeout_s);
  }
  return std::nullopt;
}

Error validate(Config& c) {
  if (!is_valid_log_level(c.log_level)) {
    return fmt::format(
        "unknown log level \"{}\" (use trace, debug, info, warn, error, critical or off)",
        c.log_level);
  }
  c.log_level = lowercase(c.log_level);
  const TlsConfig& t = c.tls;
  if (t.enabled() && (t.cert.empty() || t.key.empty() || t.authority.empty())) {
    return "FN_NODE_CERT, FN_NODE_CERT_KEY and FN_NODE_CERT_AUTHORITY must be set together";
  }
  if (auto e = validate_address(c)) return e;
  if (c.grpc_threads < 1 || c.grpc_threads > kMaxGrpcThreads) {
    return fmt::format("grpc_threads {} is out of range (1 to {})", c.grpc_threads,
                       kMaxGrpcThreads);
  }
  if (!c.metrics_address.empty()) {
    std::string why;
    if (!parse_ip_endpoint(c.metrics_address, &why)) return "metrics_address " + why;
  }
  // The ledger is a POSIX shared memory object: one path component.
  if (c.ledger_name.empty() || c.ledger_name.find('/') != std::string::npos) {
    return fmt::format("ledger_name \"{}\" must be non-empty and contain no '/'", c.ledger_name);
  }
  if (c.ledger_entries == 0) return "ledger_entries must be at least 1";
  if (c.images_dir.empty()) return "images_dir must not be empty";
  return validate_call_limits(c.call_limits);
}

Error load(const std::vector<std::string>& args, Config& c) {
  std::optional<std::string> path;
  if (auto e = scan_flags(args, path)) return e;
  if (!path) path = env("FN_RUNNER_CONFIG");
  if (path) {
    if (auto e = apply_file(*path, c)) return e;
  }
  if (auto e = apply_env(c)) return e;
  if (auto e = apply_flags(args, c)) return e;
  return validate(c);
}

}  // namespace

ConfigLoad load_config(const std::vector<std::string>& args) {
  Config c;
  if (auto e = load(args, c)) return {std::nullopt, "config: " + *e};
  return {std::move(c), ""};
}

}  // namespace fnr
