#include "worker/http_response_parser.h"

#include <strings.h>

#include <algorithm>

namespace fnr {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `f` with each comma-separated token of a Connection header value.
template <class F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view token = trim(list.substr(0, comma));
    if (!token.empty()) f(token);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

http_parser_settings make_settings() {
  http_parser_settings s;
  http_parser_settings_init(&s);
  return s;
}

}  // namespace

bool is_hop_by_hop_header(std::string_view name) {
  return iequals(name, "Connection") || iequals(name, "Keep-Alive") ||
         istarts_with(name, "Proxy-") || iequals(name, "TE") || iequals(name, "Trailer") ||
         iequals(name, "Transfer-Encoding") || iequals(name, "Upgrade");
}

const http_parser_settings HttpResponseParser::kSettings = [] {
  http_parser_settings s = make_settings();
  s.on_message_begin = on_message_begin;
  s.on_header_field = on_header_field;
  s.on_header_value = on_header_value;
  s.on_headers_complete = on_headers_complete;
  s.on_body = on_body;
  s.on_message_complete = on_message_complete;
  return s;
}();

HttpResponseParser::HttpResponseParser(uint32_t max_header_bytes) {
  // The library counts the header section itself (status line included)
  // and fails with HPE_HEADER_OVERFLOW past the limit.
  http_parser_set_max_header_size(max_header_bytes);
  reset(nullptr);
}

void HttpResponseParser::reset(Handler* handler) {
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.data = this;
  handler_ = handler;
  complete_ = false;
  stopped_ = false;
  interim_ = false;
  on_message_begin(&parser_);
}

HttpResponseParser::Status HttpResponseParser::feed(std::string_view bytes, size_t* consumed) {
  const size_t n = http_parser_execute(&parser_, &kSettings, bytes.data(), bytes.size());
  *consumed = n;
  return status_after(n, bytes.size());
}

HttpResponseParser::Status HttpResponseParser::feed_eof() {
  if (complete_) return Status::kComplete;
  http_parser_execute(&parser_, &kSettings, nullptr, 0);
  // The library accepts EOF quietly between messages too; for us, a
  // connection that closes before the response ends is a broken response.
  return complete_ ? Status::kComplete : Status::kInvalid;
}

HttpResponseParser::Status HttpResponseParser::status_after(size_t parsed, size_t len) {
  if (complete_) return Status::kComplete;
  if (stopped_) return Status::kStopped;
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_HEADER_OVERFLOW) return Status::kHeaderTooLarge;
  if (err != HPE_OK || parsed != len) return Status::kInvalid;
  return Status::kNeedMore;
}

const char* HttpResponseParser::error_name() const {
  return http_errno_name(HTTP_PARSER_ERRNO(&parser_));
}

// Headers land in reused slots: committing swaps the pending strings into
// slot count_, and the slot's old strings (cleared, capacity kept) become
// the next pending ones. A function that sends the same headers every call
// costs no allocation here.
void HttpResponseParser::commit_header() {
  have_pending_ = false;
  in_value_ = false;
  auto& [name, value] = pending_;
  if (iequals(name, "Connection")) {
    // keep-alive/close are the library's business; anything else it names
    // is hop-by-hop too.
    for_each_token(value, [this](std::string_view t) {
      if (!iequals(t, "keep-alive") && !iequals(t, "close")) connection_lists_others_ = true;
    });
    // Kept aside: the Connection header itself is not passed on.
    if (connection_lists_others_) connection_tokens_.append(value).push_back(',');
  }
  if (!is_hop_by_hop_header(name)) {
    if (count_ < headers_.size()) {
      headers_[count_].first.swap(name);
      headers_[count_].second.swap(value);
    } else {
      headers_.emplace_back(std::move(name), std::move(value));
    }
    ++count_;
  }
  name.clear();
  value.clear();
}

void HttpResponseParser::drop_connection_listed_headers() {
  if (!connection_lists_others_) return;
  const std::string_view tokens = connection_tokens_;
  size_t kept = 0;
  for (size_t i = 0; i < count_; ++i) {
    bool listed = false;
    for_each_token(tokens,
                   [&](std::string_view t) { listed = listed || iequals(t, headers_[i].first); });
    if (listed) continue;
    if (kept != i) std::swap(headers_[kept], headers_[i]);
    ++kept;
  }
  count_ = kept;
}

int HttpResponseParser::on_message_begin(http_parser* p) {
  auto* self = static_cast<HttpResponseParser*>(p->data);
  self->count_ = 0;
  self->pending_.first.clear();
  self->pending_.second.clear();
  self->have_pending_ = false;
  self->in_value_ = false;
  self->connection_lists_others_ = false;
  self->connection_tokens_.clear();
  return 0;
}

int HttpResponseParser::on_header_field(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<HttpResponseParser*>(p->data);
  // A field after a value starts the next header; a field may also arrive
  // in pieces when it straddles two reads.
  if (self->in_value_) self->commit_header();
  self->have_pending_ = true;
  self->pending_.first.append(at, n);
  return 0;
}

int HttpResponseParser::on_header_value(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<HttpResponseParser*>(p->data);
  self->in_value_ = true;
  self->pending_.second.append(at, n);
  return 0;
}

int HttpResponseParser::on_headers_complete(http_parser* p) {
  auto* self = static_cast<HttpResponseParser*>(p->data);
  if (self->have_pending_) self->commit_header();
  // 100 Continue and friends come before the real answer and never have a
  // body (RFC 9110 15.2), whatever Content-Length they claim: returning 1
  // tells http_parser to skip it, so no byte of theirs reaches the handler
  // before the real response head. (Found by tests/fuzz/http_response.)
  const int status = static_cast<int>(p->status_code);
  if (status >= 100 && status < 200 && status != 101) {
    self->interim_ = true;
    return 1;
  }
  self->drop_connection_listed_headers();
  // Slots a bigger earlier response left behind must not be shown.
  if (self->headers_.size() > self->count_) self->headers_.resize(self->count_);
  if (self->handler_ != nullptr && !self->handler_->on_response_head(status, self->headers_)) {
    self->stopped_ = true;
    http_parser_pause(p, 1);
  }
  return 0;
}

int HttpResponseParser::on_body(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<HttpResponseParser*>(p->data);
  if (self->handler_ != nullptr && !self->handler_->on_response_body(std::string_view(at, n))) {
    self->stopped_ = true;
    http_parser_pause(p, 1);
  }
  return 0;
}

int HttpResponseParser::on_message_complete(http_parser* p) {
  auto* self = static_cast<HttpResponseParser*>(p->data);
  if (self->interim_) {
    self->interim_ = false;
    return 0;
  }
  self->complete_ = true;
  // Whatever follows in the same read was not asked for: stop here and let
  // the caller see where this response ended.
  http_parser_pause(p, 1);
  if (self->handler_ != nullptr)
    self->handler_->on_response_complete(http_should_keep_alive(p) != 0);
  return 0;
}

}  // namespace fnr
