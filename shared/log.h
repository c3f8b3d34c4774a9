#pragma once
// One spdlog logger for the process, to stderr (journald adds time stamps
// under systemd, but tests read stderr too, so we keep our own).
#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace fnr {

// `name` is the process role ("supervisor", "worker", ...). Returns false
// if `level` is not a known spdlog level name.
bool init_logging(std::string_view name, const std::string& level);
bool set_log_level(const std::string& level);

// True for trace, debug, info, warn, warning, error, critical and off, in any
// letter case (Fn's FN_LOG_LEVEL=DEBUG works). spdlog::level::from_str maps
// unknown names to off, which would silence a typo, hence this check.
[[nodiscard]] bool is_valid_log_level(std::string_view level);

}  // namespace fnr
