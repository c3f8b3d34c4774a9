#include "worker/http_format.h"

#include <strings.h>

#include "worker/function_env.h"
#include "worker/http_response_parser.h"
#include "worker/stdio_hot_container.h"

namespace fnr {
namespace {

// A function's status line and headers; past it the answer is refused
// rather than buffered without end. Fn's FN_MAX_HDR_RESPONSE_SIZE default.

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Call headers we do not copy into the request: its framing is ours
// (Content-Length; Go's Request.Write drops the same ones), Host is written
// first on its own, the FN_* ones are set per call, and hop-by-hop headers
// describe the LB's connection, not this pipe.
bool replaced_header(std::string_view name) {
  for (std::string_view ours :
       {"Content-Length", "Host", "FN_CALL_ID", "FN_DEADLINE", "FN_METHOD", "FN_REQUEST_URL"}) {
    if (iequals(name, ours)) return true;
  }
  return is_hop_by_hop_header(name);
}

struct UrlParts {
  std::string_view authority;  // host[:port], "" when the URL is a path
  std::string target;          // path and query: the request line's target
};

// "scheme://[user@]host[:port]/path?query#fragment", or already a path.
UrlParts split_url(std::string_view url) {
  UrlParts parts;
  std::string_view rest = url;
  const size_t scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos && url.find_first_of("/?#") > scheme_end) {
    rest = url.substr(scheme_end + 3);
    const size_t path_start = rest.find_first_of("/?#");
    parts.authority = rest.substr(0, path_start);
    rest = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
    if (const size_t at = parts.authority.rfind('@'); at != std::string_view::npos) {
      parts.authority.remove_prefix(at + 1);
    }
  }
  rest = rest.substr(0, rest.find('#'));
  if (rest.empty() || rest.front() != '/') parts.target = "/";
  // The request line ends at the first space: whatever is not visible
  // ASCII is percent-encoded (call.cc already refused control bytes).
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : rest) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F) {
      parts.target += '%';
      parts.target += kHex[c >> 4];
      parts.target += kHex[c & 0xF];
    } else {
      parts.target += ch;
    }
  }
  return parts;
}

void add_header(std::string* head, std::string_view name, std::string_view value) {
  head->append(name).append(": ").append(value).append("\r\n");
}

class HttpProtocol final : public StdioProtocol, private HttpResponseParser::Handler {
 public:
  explicit HttpProtocol(uint32_t max_header_bytes) : parser_(max_header_bytes) {}

  bool encode_request(const wire::CallSpec& spec, std::string_view body,
                      std::string* head) override {
    const UrlParts url = split_url(spec.url());
    head->clear();
    head->append(spec.method().empty() ? "GET" : spec.method())
        .append(" ")
        .append(url.target)
        .append(" HTTP/1.1\r\n");
    // HTTP/1.1 wants Host first: the LB's, else the URL's authority.
    const wire::Header* host = nullptr;
    for (const auto& h : spec.headers()) {
      if (iequals(h.key(), "Host") && h.values_size() > 0) host = &h;
    }
    if (host != nullptr) {
      add_header(head, "Host", host->values(0));
    } else if (!url.authority.empty()) {
      add_header(head, "Host", url.authority);
    }
    for (const auto& h : spec.headers()) {
      if (replaced_header(h.key())) continue;
      for (const auto& v : h.values()) add_header(head, h.key(), v);
    }
    add_header(head, "FN_CALL_ID", spec.id());
    add_header(head, "FN_DEADLINE", rfc3339_utc_ms(spec.deadline_unix_ms()));
    add_header(head, "FN_METHOD", spec.method());
    add_header(head, "FN_REQUEST_URL", spec.url());
    add_header(head, "Content-Length", std::to_string(body.size()));
    head->append("\r\n");
    return true;
  }

  void begin_response(CallSink* sink, uint64_t max_body_bytes) override {
    sink_ = sink;
    max_body_bytes_ = max_body_bytes;
    body_bytes_ = 0;
    too_large_ = false;
    parser_.reset(this);
  }

  Verdict feed(std::string_view bytes, size_t* consumed) override {
    switch (parser_.feed(bytes, consumed)) {
      case HttpResponseParser::Status::kNeedMore:
        return Verdict::kNeedMore;
      case HttpResponseParser::Status::kComplete:
        return Verdict::kComplete;
      case HttpResponseParser::Status::kStopped:
        return too_large_ ? Verdict::kBodyTooLarge : Verdict::kInvalid;
      case HttpResponseParser::Status::kHeaderTooLarge:
        return Verdict::kHeaderTooLarge;
      case HttpResponseParser::Status::kInvalid:
        break;
    }
    return Verdict::kInvalid;
  }

  // Only a body delimited by the close ends well here; a response cut
  // short is the function failing, not speaking another format.
  Verdict feed_eof() override {
    return parser_.feed_eof() == HttpResponseParser::Status::kComplete ? Verdict::kComplete
                                                                       : Verdict::kNeedMore;
  }

  [[nodiscard]] std::string_view invalid_message() const override {
    return "invalid http response from function";
  }
  [[nodiscard]] std::string error_detail() const override { return parser_.error_name(); }

 private:
  // HttpResponseParser::Handler. The parser leaves out hop-by-hop headers
  // (Transfer-Encoding among them: the body we pass on is de-chunked).
  bool on_response_head(int status, const HeaderList& headers) override {
    sink_->result_start(status, headers);
    return true;
  }
  bool on_response_body(std::string_view bytes) override {
    body_bytes_ += bytes.size();
    if (body_bytes_ > max_body_bytes_) {
      too_large_ = true;
      return false;
    }
    sink_->response_data(bytes);
    return true;
  }
  // Keep-alive is not ours to honour: on a pipe there is no connection to
  // close, and Fn's agent reused the container whatever the answer said.
  void on_response_complete(bool /*keep_alive*/) override {}

  HttpResponseParser parser_;
  CallSink* sink_ = nullptr;
  uint64_t max_body_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  bool too_large_ = false;
};

}  // namespace

std::unique_ptr<HotContainer> make_http_format_container(uv_loop_t* loop,
                                                         const std::vector<sock_filter>& seccomp,
                                                         const HotLimits& limits) {
  return std::make_unique<StdioHotContainer>(
      loop, seccomp, std::make_unique<HttpProtocol>(limits.max_response_header_bytes));
}

}  // namespace fnr
