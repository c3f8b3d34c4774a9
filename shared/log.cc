#include "shared/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace fnr {
namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view name) {
  if (!is_valid_log_level(name)) return std::nullopt;
  return spdlog::level::from_str(lowercase(name));
}

// spdlog treats '%' in a pattern as a flag; the role name is literal text.
std::string escape_pattern(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

}  // namespace

bool is_valid_log_level(std::string_view level) {
  constexpr std::array<std::string_view, 8> kNames = {"trace",   "debug", "info",     "warn",
                                                      "warning", "error", "critical", "off"};
  std::string lower = lowercase(level);
  return std::find(kNames.begin(), kNames.end(), lower) != kNames.end();
}

bool init_logging(std::string_view name, const std::string& level) {
  // A plain (non-color) stderr sink: stderr may be a pipe to journald or a
  // test harness, where escape codes are noise. %P is looked up per message,
  // so a forked child logs its own pid.
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(name), std::move(sink));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ [" + escape_pattern(name) + ":%P] %v",
                      spdlog::pattern_time_type::utc);
  auto parsed = parse_level(level);
  // Even with a bad level the process keeps a working logger (at info), so
  // the caller can log why it is about to exit.
  logger->set_level(parsed.value_or(spdlog::level::info));
  spdlog::set_default_logger(std::move(logger));
  return parsed.has_value();
}

bool set_log_level(const std::string& level) {
  auto parsed = parse_level(level);
  if (!parsed) return false;
  spdlog::default_logger()->set_level(*parsed);
  return true;
}

}  // namespace fnr
