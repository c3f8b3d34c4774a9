#include "worker/json_format.h"

#include <strings.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "worker/function_env.h"
#include "worker/stdio_hot_container.h"

namespace fnr {
namespace {

using nlohmann::json;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// RFC 9110 token: what a header name may be made of.
bool is_http_token(std::string_view s) {
  constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kSpecials.find(ch) != std::string_view::npos;
  });
}

// A header value that could split or forge a header line on the LB's side.
bool unsafe_value(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// A field Go's encoding/json would leave at its zero value: absent or null.
const json* field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

class JsonProtocol final : public StdioProtocol {
 public:
  bool encode_request(const wire::CallSpec& spec, std::string_view body,
                      std::string* head) override {
    json headers = json::object();
    std::string content_type;
    for (const auto& h : spec.headers()) {
      json values = json::array();
      for (const auto& v : h.values()) values.push_back(v);
      headers[h.key()] = std::move(values);
      if (content_type.empty() && iequals(h.key(), "Content-Type") && h.values_size() > 0) {
        content_type = h.values(0);
      }
    }
    const json request = {
        {"call_id", spec.id()},
        {"deadline", rfc3339_utc_ms(spec.deadline_unix_ms())},
        {"body", std::string(body)},
        {"content_type", content_type},
        {"protocol",
         {{"type", "http"},
          {"method", spec.method()},
          {"request_url", spec.url()},
          {"headers", std::move(headers)}}},
    };
    // JSON strings are UTF-8: bytes that are not become U+FFFD, as Go's
    // encoding/json made them for Fn. dump() escapes newlines, so the
    // object stays on its one line.
    *head = request.dump(-1, ' ', false, json::error_handler_t::replace);
    head->push_back('\n');
    return false;
  }

  void begin_response(CallSink* sink, uint64_t max_line_bytes) override {
    sink_ = sink;
    max_line_bytes_ = max_line_bytes;
    line_.clear();
    detail_.clear();
  }

  Verdict feed(std::string_view bytes, size_t* consumed) override {
    size_t pos = 0;
    for (;;) {
      const size_t nl = bytes.find('\n', pos);
      const std::string_view part =
          bytes.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      // The line is buffered whole before it can be parsed: the call's
      // response limit bounds it.
      if (line_.size() + part.size() > max_line_bytes_) return Verdict::kBodyTooLarge;
      line_.append(part);
      if (nl == std::string_view::npos) return Verdict::kNeedMore;
      pos = nl + 1;
      // Blank lines between answers are whitespace to a JSON decoder (as
      // they were to Fn's); skip them.
      if (blank(line_)) {
        line_.clear();
        continue;
      }
      *consumed = pos;
      return answer();
    }
  }

  // A last object without its newline still counts, as a JSON decoder
  // reading to EOF would take it; anything else is no answer.
  Verdict feed_eof() override {
    if (blank(line_)) return Verdict::kNeedMore;
    return answer() == Verdict::kComplete ? Verdict::kComplete : Verdict::kNeedMore;
  }

  [[nodiscard]] std::string_view invalid_message() const override {
    return "invalid json response from function";
  }
  [[nodiscard]] std::string error_detail() const override { return detail_; }

 private:
  Verdict invalid(std::string why) {
    detail_ = std::move(why);
    return Verdict::kInvalid;
  }

  // Checks the whole answer before anything reaches the sink, so an
  // invalid answer never produces a half-sent result.
  Verdict answer() {
    const json doc = json::parse(line_, nullptr, /*allow_exceptions=*/false);
    line_.clear();
    if (doc.is_discarded()) return invalid("not JSON");
    if (!doc.is_object()) return invalid("not a JSON object");
    std::string body, content_type;
    int status = 200;
    HeaderList headers;
    if (const json* b = field(doc, "body")) {
      if (!b->is_string()) return invalid("body is not a string");
      body = b->get<std::string>();
    }
    if (const json* ct = field(doc, "content_type")) {
      if (!ct->is_string()) return invalid("content_type is not a string");
      content_type = ct->get<std::string>();
    }
    if (const json* p = field(doc, "protocol")) {
      if (!p->is_object()) return invalid("protocol is not an object");
      if (const json* sc = field(*p, "status_code")) {
        if (!sc->is_number_integer()) return invalid("status_code is not an integer");
        const int64_t code = sc->get<int64_t>();
        // 0 is Go's zero value: "not set", which Fn answered as 200.
        if (code != 0 && (code < 100 || code > 599)) return invalid("status_code out of range");
        if (code != 0) status = static_cast<int>(code);
      }
      if (const json* hs = field(*p, "headers")) {
        if (!hs->is_object()) return invalid("headers is not an object");
        for (const auto& [name, values] : hs->items()) {
          if (!is_http_token(name)) return invalid("a header name is not an HTTP token");
          if (values.is_null()) continue;
          if (!values.is_array()) return invalid("header " + name + " is not an array");
          for (const auto& v : values) {
            if (!v.is_string()) return invalid("header " + name + " has a non-string value");
            const auto& s = v.get_ref<const std::string&>();
            if (unsafe_value(s)) return invalid("header " + name + " has CR, LF or NUL");
            headers.emplace_back(name, s);
          }
        }
      }
    }
    // The top-level content_type wins over the headers' (Fn's rule).
    if (!content_type.empty()) {
      if (unsafe_value(content_type)) return invalid("content_type has CR, LF or NUL");
      std::erase_if(headers, [](const auto& h) { return iequals(h.first, "Content-Type"); });
      headers.emplace_back("Content-Type", content_type);
    }
    sink_->result_start(status, headers);
    if (!body.empty()) sink_->response_data(body);
    return Verdict::kComplete;
  }

  CallSink* sink_ = nullptr;
  uint64_t max_line_bytes_ = 0;
  std::string line_;
  std::string detail_;
};

}  // namespace

std::unique_ptr<HotContainer> make_json_format_container(uv_loop_t* loop,
                                                         const std::vector<sock_filter>& seccomp) {
  return std::make_unique<StdioHotContainer>(loop, seccomp, std::make_unique<JsonProtocol>());
}

}  // namespace fnr
