#include "tests/support/prometheus_text.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <vector>

namespace fnr::test_support {
namespace {

bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

bool valid_name(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!is_name_char(s[i], i == 0)) return false;
  }
  return true;
}

std::optional<double> parse_value(std::string_view s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  if (s.empty()) return std::nullopt;
  const std::string copy(s);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string series;  // as written
  double value = 0;
};

// `name{a="x",b="y"} value`; no timestamps (fn-runner writes none).
std::optional<Sample> parse_sample(std::string_view line, std::string* why) {
  Sample s;
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = std::string(line.substr(0, i));
  if (!valid_name(s.name)) {
    *why = "bad metric name";
    return std::nullopt;
  }
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find('=', i);
      if (eq == std::string_view::npos) break;
      const std::string label(line.substr(i, eq - i));
      if (!valid_name(label) || eq + 1 >= line.size() || line[eq + 1] != '"') {
        *why = "bad label";
        return std::nullopt;
      }
      std::string value;
      size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\') {
          if (++j >= line.size()) break;
          value += line[j] == 'n' ? '\n' : line[j];
        } else {
          value += line[j];
        }
      }
      if (j >= line.size()) {
        *why = "unterminated label value";
        return std::nullopt;
      }
      if (!s.labels.emplace(label, value).second) {
        *why = "duplicate label " + label;
        return std::nullopt;
      }
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size() || line[i] != '}') {
      *why = "unterminated label set";
      return std::nullopt;
    }
    ++i;
  }
  s.series = std::string(line.substr(0, i));
  if (i >= line.size() || line[i] != ' ') {
    *why = "no value";
    return std::nullopt;
  }
  auto v = parse_value(line.substr(i + 1));
  if (!v) {
    *why = "bad value (or a timestamp)";
    return std::nullopt;
  }
  s.value = *v;
  return s;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The family a sample belongs to, given the TYPEs seen so far.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (!ends_with(name, suffix)) continue;
    std::string base = name.substr(0, name.size() - suffix.size());
    auto it = types.find(base);
    if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
  }
  return name;
}

// Buckets of one histogram series (labels other than le), in page order.
struct HistogramSeries {
  std::vector<std::pair<double, double>> buckets;  // le, cumulative count
  std::optional<double> count, sum;
};

bool check_histograms(const std::map<std::string, HistogramSeries>& series, std::string* error) {
  for (const auto& [key, h] : series) {
    if (h.buckets.empty() || !std::isinf(h.buckets.back().first)) {
      *error = key + ": no le=\"+Inf\" bucket last";
      return false;
    }
    for (size_t i = 1; i < h.buckets.size(); ++i) {
      if (!(h.buckets[i].first > h.buckets[i - 1].first)) {
        *error = key + ": bucket bounds not increasing";
        return false;
      }
      if (h.buckets[i].second < h.buckets[i - 1].second) {
        *error = key + ": buckets not cumulative";
        return false;
      }
    }
    if (!h.count || !h.sum) {
      *error = key + ": missing _count or _sum";
      return false;
    }
    if (*h.count != h.buckets.back().second) {
      *error = key + ": +Inf bucket differs from _count";
      return false;
    }
  }
  return true;
}

std::string series_key(const std::string& family,
                       const std::map<std::string, std::string>& labels) {
  std::string key = family + "{";
  for (const auto& [k, v] : labels) {
    if (k == "le") continue;
    key.append(k).append("=").append(v).append(",");
  }
  return key + "}";
}

}  // namespace

double MetricsPage::value(const std::string& series) const {
  auto it = samples.find(series);
  return it == samples.end() ? 0 : it->second;
}

std::optional<MetricsPage> parse_metrics_page(std::string_view text, std::string* error) {
  MetricsPage page;
  std::set<std::string> finished;  // families whose samples are over
  std::string current;             // family of the last sample
  std::map<std::string, HistogramSeries> histograms;
  size_t line_no = 0;
  if (!text.empty() && text.back() != '\n') {
    *error = "the page does not end with a newline";
    return std::nullopt;
  }
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++line_no;
    const auto fail = [&](const std::string& why) -> std::optional<MetricsPage> {
      *error = "line " + std::to_string(line_no) + " \"" + std::string(line) + "\": " + why;
      return std::nullopt;
    };
    if (line.empty()) return fail("empty line");
    if (line.rfind("# TYPE ", 0) == 0 || line.rfind("# HELP ", 0) == 0) {
      const std::string_view rest = line.substr(7);
      const size_t sp = rest.find(' ');
      if (sp == std::string_view::npos) return fail("no text after the name");
      const std::string name(rest.substr(0, sp));
      if (!valid_name(name)) return fail("bad metric name");
      if (line[2] == 'T') {
        const std::string type(rest.substr(sp + 1));
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (kTypes.count(type) == 0) return fail("unknown type");
        if (!page.types.emplace(name, type).second) return fail("second TYPE for " + name);
        if (finished.count(name) != 0 || current == name) return fail("TYPE after samples");
      }
      continue;
    }
    if (line[0] == '#') continue;
    std::string why;
    auto s = parse_sample(line, &why);
    if (!s) return fail(why);
    const std::string family = family_of(s->name, page.types);
    auto type = page.types.find(family);
    if (type == page.types.end()) return fail("sample before its TYPE");
    if (family != current) {
      if (finished.count(family) != 0) return fail("samples of " + family + " not contiguous");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    if (!page.samples.emplace(s->series, s->value).second) return fail("duplicate series");
    if (type->second == "counter" && !(s->value >= 0)) return fail("negative counter");
    if (type->second == "histogram") {
      HistogramSeries& h = histograms[series_key(family, s->labels)];
      if (s->name == family + "_bucket") {
        auto le = s->labels.find("le");
        if (le == s->labels.end()) return fail("bucket without le");
        auto bound = parse_value(le->second);
        if (!bound) return fail("bad le");
        h.buckets.emplace_back(*bound, s->value);
      } else if (s->name == family + "_count") {
        h.count = s->value;
      } else if (s->name == family + "_sum") {
        h.sum = s->value;
      } else {
        return fail("not a histogram series");
      }
    }
  }
  if (!check_histograms(histograms, error)) return std::nullopt;
  return page;
}

}  // namespace fnr::test_support
