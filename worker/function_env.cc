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

std::vector<std::string> stdio_format_env(const wire::CallSpec& spec,
                                          const std::vector<std::string>& image_env) {
  // emplace() keeps what is there, insert_or_assign() overrides: the call's
  // config and per-call variables win over the image's Env, and the defaults
  // we add for LBs that don't send them come last.
  std::map<std::string, std::string> env;
  for (const auto& e : image_env) {
    const size_t eq = e.find('=');
    if (eq != std::string::npos) env.insert_or_assign(e.substr(0, eq), e.substr(eq + 1));
  }
  for (const auto& [k, v] : spec.config()) env.insert_or_assign(k, v);
  env.insert_or_assign("FN_CALL_ID", spec.id());
  env.insert_or_assign("FN_DEADLINE", rfc3339_utc_ms(spec.deadline_unix_ms()));
  env.insert_or_assign("FN_METHOD", spec.method());
  env.insert_or_assign("FN_REQUEST_URL", spec.url());
  for (const auto& h : spec.headers()) env.insert_or_assign(header_env_name(h.key()), joined(h));
  env.emplace("FN_FORMAT", spec.format());
  env.emplace("FN_MEMORY", std::to_string(spec.memory_mib()));
  env.emplace("FN_TYPE", spec.type());
  if (!spec.app_id().empty()) env.emplace("FN_APP_ID", spec.app_id());
  if (!spec.fn_id().empty()) env.emplace("FN_FN_ID", spec.fn_id());
  if (!spec.app_name().empty()) env.emplace("FN_APP_NAME", spec.app_name());
  if (!spec.path().empty()) env.emplace("FN_PATH", spec.path());
  env.emplace("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.emplace("HOME", "/tmp");

  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace fnr
