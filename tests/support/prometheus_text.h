#pragma once
// A strict reader of the Prometheus text exposition format (0.0.4), for
// tests that scrape fn-runner: every line is a HELP/TYPE comment or a
// sample `name{labels} value`; a family's TYPE comes before its samples,
// which are contiguous; histogram buckets are cumulative, end at +Inf and
// +Inf equals _count. Anything else is an error, so a test that parses a
// page has also checked its format.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace fnr::test_support {

struct MetricsPage {
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram, ...
  // Series as written, `name` or `name{label="value",...}` -> value.
  std::map<std::string, double> samples;

  [[nodiscard]] bool has(const std::string& series) const { return samples.count(series) != 0; }
  // 0 for a series the page does not carry (a counter never bumped).
  [[nodiscard]] double value(const std::string& series) const;
};

// nullopt with `error` naming the line when `text` breaks the format.
[[nodiscard]] std::optional<MetricsPage> parse_metrics_page(std::string_view text,
                                                            std::string* error);

}  // namespace fnr::test_support
