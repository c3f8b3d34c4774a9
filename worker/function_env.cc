#include "worker/function_env.h"

#include <ctime>
#include <map>

namespace fnr {

std::string rfc3339_utc_ms(int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  const size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(buf, n) + "." + std::to_string(1000 + unix_ms % 1000).substr(1) + "Z";
}

namespace {

// FN_HEADER_<Name>: '-' becomes '_' so shells can read the variable.
std::string header_env_name(const std::string& name) {
  std::string out = "FN_HEADER_";
  for (char c : name) out.push_back(c == '-' ? '_' : c);
  return out;
}

std::string joined(const wire::Header& h) {
  std::string v;
  for (int i = 0; i < h.values_size(); ++i) {
    if (i > 0) v += ", ";
    v += h.values(i);
  }
  return v;
}

}  // namespace

namespace {

using EnvMap = std::map<std::string, std::string>;

// The image's Env, then the call's config over it.
EnvMap image_and_config(const wire::CallSpec& spec, const std::vector<std::string>& image_env) {
  EnvMap env;
  for (const auto& e : image_env) {
    const size_t eq = e.find('=');
    if (eq != std::string::npos) env.insert_or_assign(e.substr(0, eq), e.substr(eq + 1));
  }
  for (const auto& [k, v] : spec.config()) env.insert_or_assign(k, v);
  return env;
}

// Fn's identity variables, for LBs that don't put them in the config, and
// a sane PATH/HOME: emplace() keeps whatever is already there.
void add_defaults(EnvMap& env, const wire::CallSpec& spec) {
  env.emplace("FN_MEMORY", std::to_string(spec.memory_mib()));
  env.emplace("FN_TYPE", spec.type().empty() ? "sync" : spec.type());
  if (!spec.app_id().empty()) env.emplace("FN_APP_ID", spec.app_id());
  if (!spec.fn_id().empty()) env.emplace("FN_FN_ID", spec.fn_id());
  if (!spec.app_name().empty()) env.emplace("FN_APP_NAME", spec.app_name());
  env.emplace("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.emplace("HOME", "/tmp");
}

std::vector<std::string> flatten(const EnvMap& env) {
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(std::string(k).append("=").append(v));
  return out;
}

}  // namespace

std::vector<std::string> stdio_format_env(const wire::CallSpec& spec,
                                          const std::vector<std::string>& image_env) {
  // insert_or_assign() overrides: per-call variables win over the config.
  EnvMap env = image_and_config(spec, image_env);
  env.insert_or_assign("FN_CALL_ID", spec.id());
  env.insert_or_assign("FN_DEADLINE", rfc3339_utc_ms(spec.deadline_unix_ms()));
  env.insert_or_assign("FN_METHOD", spec.method());
  env.insert_or_assign("FN_REQUEST_URL", spec.url());
  for (const auto& h : spec.headers()) env.insert_or_assign(header_env_name(h.key()), joined(h));
  env.emplace("FN_FORMAT", spec.format());
  if (!spec.path().empty()) env.emplace("FN_PATH", spec.path());
  add_defaults(env, spec);
  return flatten(env);
}

std::vector<std::string> http_stream_env(const wire::CallSpec& spec,
                                         const std::vector<std::string>& image_env,
                                         const std::string& listener) {
  // FN_FORMAT and FN_LISTENER are ours whatever the config says: they are
  // the contract. (FN_FN_NAME is not in the CallSpec, so it is never set.)
  EnvMap env = image_and_config(spec, image_env);
  env.insert_or_assign("FN_FORMAT", "http-stream");
  env.insert_or_assign("FN_LISTENER", "unix:" + listener);
  add_defaults(env, spec);
  return flatten(env);
}

}  // namespace fnr
