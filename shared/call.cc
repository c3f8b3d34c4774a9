#include "shared/call.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace fnr {
namespace {

using json = nlohmann::json;

// An empty optional means success. Small enough to return by value everywhere.
using Error = std::optional<std::string>;

Error invalid(std::string_view reason) { return fmt::format("invalid call: {}", reason); }

// Error strings travel to the LB in a proto3 string (which must be UTF-8: Go's
// protobuf rejects anything else) and into log lines, so caller-supplied text
// is escaped to printable ASCII and cut short before it is echoed.
std::string sanitize(std::string_view s, size_t max_bytes = 64) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == max_bytes) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

std::string quote_input(std::string_view s) { return "\"" + sanitize(s) + "\""; }

bool is_control(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c < 0x20 || c == 0x7F;
}

bool has_control(std::string_view s) { return std::any_of(s.begin(), s.end(), is_control); }

bool has_cr_lf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// RFC 9110 token: what an HTTP method or header name may be made of.
bool is_http_token(std::string_view s) {
  constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [&](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kSpecials.find(ch) != std::string_view::npos;
  });
}

// A field that is absent or an explicit null counts as missing: Go's
// encoding/json leaves the zero value in both cases, and so do we.
const json* field(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return nullptr;
  return &*it;
}

Error read_string(const json& doc, const char* key, std::string& out) {
  const json* v = field(doc, key);
  if (v == nullptr) return {};
  if (!v->is_string()) return invalid(fmt::format("{} must be a string", key));
  out = v->get_ref<const std::string&>();
  return {};
}

// Identity and request fields end up in env vars, HTTP heads and log lines,
// where a control byte would split or forge a line. Go's url.Parse rejects
// them in URLs too.
Error read_plain_string(const json& doc, const char* key, std::string& out) {
  if (auto e = read_string(doc, key, out)) return e;
  if (has_control(out)) return invalid(fmt::format("{} contains a control character", key));
  return {};
}

// Reads an integer field as int64. Floats are refused, as Go refuses to
// unmarshal 1.5 (or 1.0) into an int; values beyond int64 cannot be in range
// for any field here.
Error read_int(const json& doc, const char* key, std::optional<int64_t>& out) {
  out.reset();
  const json* v = field(doc, key);
  if (v == nullptr) return {};
  if (v->is_number_unsigned()) {
    auto u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid(fmt::format("{} {} is out of range", key, u));
    }
    out = static_cast<int64_t>(u);
    return {};
  }
  if (v->is_number_integer()) {
    out = v->get<int64_t>();
    return {};
  }
  return invalid(fmt::format("{} must be an integer", key));
}

Error parse_id(const json& doc, Call& call) {
  if (auto e = read_string(doc, "id", call.id)) return e;
  if (call.id.empty()) return invalid("missing id");
  if (call.id.size() > kMaxCallIdLength) {
    return invalid(fmt::format("id is longer than {} characters", kMaxCallIdLength));
  }
  // Visible ASCII only: the id is echoed in Fn-Call-Id, ack details and logs.
  bool visible = std::all_of(call.id.begin(), call.id.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7F;
  });
  if (!visible) return invalid("id must be printable ASCII without spaces");
  return {};
}

Error parse_image(const json& doc, Call& call) {
  if (auto e = read_string(doc, "image", call.image)) return e;
  if (call.image.empty()) return invalid("missing image");
  // No image reference grammar allows whitespace or control bytes, and the
  // image name is later mapped to a path under images_dir.
  bool clean = std::none_of(call.image.begin(), call.image.end(),
                            [](char ch) { return is_control(ch) || ch == ' '; });
  if (!clean) return invalid("image contains whitespace or a control character");
  return {};
}

Error parse_identity(const json& doc, Call& call) {
  for (auto [key, out] : {std::pair{"app_id", &call.app_id}, std::pair{"app_name", &call.app_name},
                          std::pair{"fn_id", &call.fn_id}, std::pair{"path", &call.path},
                          std::pair{"url", &call.url}}) {
    if (auto e = read_plain_string(doc, key, *out)) return e;
  }
  if (auto e = read_string(doc, "method", call.method)) return e;
  if (!call.method.empty() && !is_http_token(call.method)) {
    return invalid(fmt::format("method {} is not a valid HTTP method", quote_input(call.method)));
  }
  return {};
}

Error parse_type(const json& doc, Call& call) {
  std::string type;
  if (auto e = read_string(doc, "type", type)) return e;
  if (type.empty()) type = "sync";  // Fn's zero value means sync
  if (type != "sync" && type != "async" && type != "detached") {
    return invalid(fmt::format("unknown type {}", quote_input(type)));
  }
  call.type = type;
  return {};
}

Error parse_format(const json& doc, Call& call) {
  if (auto e = read_string(doc, "format", call.format)) return e;
  // "" stays "": current LBs send no format and the caller picks http-stream.
  constexpr std::array<std::string_view, 5> kFormats = {"", "default", "http", "json",
                                                        "http-stream"};
  if (std::find(kFormats.begin(), kFormats.end(), call.format) == kFormats.end()) {
    return invalid(fmt::format("unknown format {}", quote_input(call.format)));
  }
  return {};
}

Error parse_memory(const json& doc, const CallLimits& limits, Call& call) {
  std::optional<int64_t> v;
  if (auto e = read_int(doc, "memory", v)) return e;
  if (!v || *v == 0) {
    call.memory_mib = limits.default_memory_mib;
    return {};
  }
  if (*v < 0) return invalid(fmt::format("memory {} MiB is negative", *v));
  if (*v > static_cast<int64_t>(limits.max_memory_mib)) {
    return invalid(
        fmt::format("memory {} MiB exceeds the maximum {} MiB", *v, limits.max_memory_mib));
  }
  call.memory_mib = static_cast<uint32_t>(*v);
  return {};
}

Error parse_timeout(const json& doc, const CallLimits& limits, Call& call) {
  std::optional<int64_t> v;
  if (auto e = read_int(doc, "timeout", v)) return e;
  if (!v) {
    call.timeout_s = limits.default_timeout_s;
    return {};
  }
  if (*v <= 0 || *v > static_cast<int64_t>(limits.max_timeout_s)) {
    return invalid(fmt::format("timeout {} s is outside 1..{} s", *v, limits.max_timeout_s));
  }
  call.timeout_s = static_cast<uint32_t>(*v);
  return {};
}

Error parse_idle_timeout(const json& doc, const CallLimits& limits, Call& call) {
  std::optional<int64_t> v;
  if (auto e = read_int(doc, "idle_timeout", v)) return e;
  if (!v || *v == 0) {
    call.idle_timeout_s = limits.default_idle_timeout_s;
    return {};
  }
  if (*v < 0 || *v > static_cast<int64_t>(limits.max_idle_timeout_s)) {
    return invalid(
        fmt::format("idle_timeout {} s is outside 0..{} s", *v, limits.max_idle_timeout_s));
  }
  call.idle_timeout_s = static_cast<uint32_t>(*v);
  return {};
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Parses decimal digits, saturating just past `cap` so huge inputs stay
// rejectable without overflow.
uint64_t digits_value(std::string_view s, uint64_t cap) {
  uint64_t v = 0;
  for (char c : s) {
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > cap) return cap + 1;
  }
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Fn's models.MilliCPUs text: "" (none), "500m" (milli-CPUs) or "1.5" (cores,
// sub-milli digits truncated as Go's float conversion does). Unlike Go we take
// no exponents, signs or hex floats: LBs only ever send what Fn marshals,
// which is always "<n>m".
std::optional<uint64_t> parse_cpus_text(std::string_view text) {
  text = trim(text);
  if (text.empty()) return 0;
  if (text.back() == 'm') {
    text.remove_suffix(1);
    if (!is_digits(text)) return std::nullopt;
    return digits_value(text, kMaxCallMilliCpus);
  }
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (!is_digits(whole) && !(whole.empty() && !frac.empty())) return std::nullopt;
  if (dot != std::string_view::npos && !frac.empty() && !is_digits(frac)) return std::nullopt;
  uint64_t cores = whole.empty() ? 0 : digits_value(whole, kMaxCallMilliCpus);
  std::string milli_digits(frac.substr(0, 3));
  milli_digits.resize(3, '0');
  return std::min<uint64_t>(cores * 1000 + digits_value(milli_digits, 999), kMaxCallMilliCpus + 1);
}

Error parse_cpus(const json& doc, Call& call) {
  const json* v = field(doc, "cpus");
  if (v == nullptr) return {};
  std::optional<uint64_t> milli;
  if (v->is_string()) {
    milli = parse_cpus_text(v->get_ref<const std::string&>());
    if (!milli)
      return invalid(fmt::format("cpus {} is not like \"500m\" or \"1.5\"",
                                 quote_input(v->get_ref<const std::string&>())));
  } else if (v->is_number_unsigned()) {
    milli = v->get<uint64_t>();  // a bare number is milli-CPUs, as Fn stores them
  } else {
    return invalid("cpus must be a string like \"500m\" or an integer of milli-CPUs");
  }
  if (*milli > kMaxCallMilliCpus) {
    return invalid(fmt::format("cpus exceeds the maximum {}m", kMaxCallMilliCpus));
  }
  call.cpus_milli = static_cast<uint32_t>(*milli);
  return {};
}

Error parse_tmpfs(const json& doc, Call& call) {
  std::optional<int64_t> v;
  if (auto e = read_int(doc, "tmpfs_size", v)) return e;
  if (!v) return {};
  if (*v < 0 || *v > std::numeric_limits<uint32_t>::max()) {
    return invalid(fmt::format("tmpfs_size {} MiB is out of range", *v));
  }
  call.tmpfs_mib = static_cast<uint32_t>(*v);
  return {};
}

// Config entries become environment variables of the function, so keys must
// be usable as env names and nothing may hold a NUL (execve would truncate).
// Values may hold newlines: PEM certificates in config are common.
Error parse_config(const json& doc, const CallLimits& limits, Call& call) {
  const json* cfg = field(doc, "config");
  if (cfg == nullptr) return {};
  if (!cfg->is_object()) return invalid("config must be an object of strings");
  size_t total = 0;
  // nlohmann's object is a std::map, so items() is already sorted by key.
  for (const auto& [key, value] : cfg->items()) {
    if (value.is_null()) continue;
    if (!value.is_string())
      return invalid(fmt::format("config {} must be a string", quote_input(key)));
    if (key.empty()) return invalid("config has an empty key");
    if (key.find('=') != std::string::npos || has_nul(key)) {
      return invalid(fmt::format("config key {} contains '=' or NUL", quote_input(key)));
    }
    const auto& text = value.get_ref<const std::string&>();
    if (has_nul(text)) return invalid(fmt::format("config {} contains NUL", quote_input(key)));
    total += key.size() + text.size();
    call.config.emplace_back(key, text);
  }
  if (total > limits.max_config_bytes) {
    return invalid(
        fmt::format("config is {} bytes, over the limit of {}", total, limits.max_config_bytes));
  }
  return {};
}

// A Go http.Header value is a list; a lone string is taken as a list of one
// because hand-written clients send it that way.
Error header_values(const std::string& name, const json& value, std::vector<std::string>& out) {
  auto bad_type = [&] {
    return invalid(
        fmt::format("header {} must be a string or an array of strings", quote_input(name)));
  };
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    for (const auto& item : value) {
      if (!item.is_string()) return bad_type();
      out.push_back(item.get<std::string>());
    }
  } else {
    return bad_type();
  }
  for (const auto& v : out) {
    if (has_cr_lf(v)) return invalid(fmt::format("header {} contains CR/LF", quote_input(name)));
    if (has_nul(v)) return invalid(fmt::format("header {} contains NUL", quote_input(name)));
  }
  return {};
}

Error parse_headers(const json& doc, const CallLimits& limits, Call& call) {
  const json* hdrs = field(doc, "headers");
  if (hdrs == nullptr) return {};
  if (!hdrs->is_object()) return invalid("headers must be an object");
  size_t total = 0;
  for (const auto& [name, value] : hdrs->items()) {
    if (value.is_null()) continue;
    if (!is_http_token(name)) {
      return invalid(fmt::format("header name {} is not a valid HTTP token", quote_input(name)));
    }
    std::vector<std::string> values;
    if (auto e = header_values(name, value, values)) return e;
    total += name.size();
    for (const auto& v : values) total += v.size();
    call.headers.emplace_back(name, std::move(values));
  }
  if (total > limits.max_header_bytes) {
    return invalid(
        fmt::format("headers are {} bytes, over the limit of {}", total, limits.max_header_bytes));
  }
  return {};
}

// Collects what a failed parse still reveals: the top-level id, if it came
// before the damage, and the parser's own description of the damage.
class PeekSax {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  std::string id;
  std::string error;

  bool null() { return value(); }
  bool boolean(bool /*unused*/) { return value(); }
  bool number_integer(number_integer_t /*unused*/) { return value(); }
  bool number_unsigned(number_unsigned_t /*unused*/) { return value(); }
  bool number_float(number_float_t /*unused*/, const string_t& /*unused*/) { return value(); }
  bool binary(binary_t& /*unused*/) { return value(); }
  bool string(string_t& s) {
    if (depth_ == 1 && key_is_id_) id = s;
    return value();
  }
  bool start_object(std::size_t /*unused*/) { return open(); }
  bool start_array(std::size_t /*unused*/) { return open(); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(string_t& k) {
    key_is_id_ = depth_ == 1 && k == "id";
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    // what() is "[json.exception.parse_error.101] parse error at line 1, column
    // 5: ..."; keep from " at line" on, so the NACK reads "malformed JSON at
    // line 1, column 5: ...".
    std::string_view what = ex.what();
    if (auto pos = what.find("] "); pos != std::string_view::npos) what.remove_prefix(pos + 2);
    constexpr std::string_view kPrefix = "parse error";
    if (what.substr(0, kPrefix.size()) == kPrefix) {
      what.remove_prefix(kPrefix.size());
    } else {
      error = ": ";
    }
    error += sanitize(what, 160);
    return false;
  }

 private:
  bool value() {
    key_is_id_ = false;
    return true;
  }
  bool open() {
    ++depth_;
    key_is_id_ = false;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  int depth_ = 0;
  bool key_is_id_ = false;
};

PeekSax peek(std::string_view text) {
  PeekSax sax;
  json::sax_parse(text.begin(), text.end(), &sax);
  return sax;
}

Error parse_fields(const json& doc, const CallLimits& limits, Call& call) {
  using Step = Error (*)(const json&, const CallLimits&, Call&);
  // Order decides which error a call with several faults reports: identity
  // first, so the reason names the most basic problem.
  static constexpr std::array<Step, 12> kSteps = {
      [](const json& d, const CallLimits&, Call& c) { return parse_id(d, c); },
      [](const json& d, const CallLimits&, Call& c) { return parse_image(d, c); },
      [](const json& d, const CallLimits&, Call& c) { return parse_identity(d, c); },
      [](const json& d, const CallLimits&, Call& c) { return parse_type(d, c); },
      [](const json& d, const CallLimits&, Call& c) { return parse_format(d, c); },
      parse_memory,
      parse_timeout,
      parse_idle_timeout,
      [](const json& d, const CallLimits&, Call& c) { return parse_cpus(d, c); },
      [](const json& d, const CallLimits&, Call& c) { return parse_tmpfs(d, c); },
      parse_config,
      parse_headers,
  };
  for (Step step : kSteps) {
    if (auto e = step(doc, limits, call)) return e;
  }
  return {};
}

CallParse parse_call_unguarded(std::string_view text, const CallLimits& limits) {
  if (text.size() > limits.max_json_bytes) {
    return {std::nullopt, fmt::format("invalid call: JSON is {} bytes, over the limit of {}",
                                      text.size(), limits.max_json_bytes)};
  }
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return {std::nullopt, "invalid call: malformed JSON" + peek(text).error};
  }
  if (!doc.is_object()) return {std::nullopt, "invalid call: JSON must be an object"};
  Call call;
  if (auto e = parse_fields(doc, limits, call)) return {std::nullopt, std::move(*e)};
  return {std::move(call), ""};
}

}  // namespace

CallParse parse_call(std::string_view json_text, const CallLimits& limits) {
  // Nothing above throws by design; this only turns an allocation failure
  // into a NACK instead of taking the supervisor down with every call.
  try {
    return parse_call_unguarded(json_text, limits);
  } catch (const std::exception& e) {
    return {std::nullopt, fmt::format("invalid call: {}", sanitize(e.what(), 160))};
  }
}

std::string peek_call_id(std::string_view json_text) {
  try {
    // Escaped like error text: the id is wanted for log lines, where a raw
    // newline would forge an entry.
    return sanitize(peek(json_text).id, kMaxCallIdLength);
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace fnr
