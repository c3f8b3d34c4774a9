#include "worker/http_stream_call.h"

#include <spdlog/spdlog.h>
#include <strings.h>

#include "worker/function_env.h"
#include "worker/http_stream_container.h"

namespace fnr {
namespace {

constexpr std::string_view kOomMessage =
    "container out of memory, you may want to raise fn.memory for this function";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// True if a Connection header of the call lists `name` (hop-by-hop too).
bool listed_by_connection(const wire::CallSpec& spec, std::string_view name) {
  for (const auto& h : spec.headers()) {
    if (!iequals(h.key(), "Connection")) continue;
    for (const auto& v : h.values()) {
      std::string_view list = v;
      while (!list.empty()) {
        const size_t comma = list.find(',');
        std::string_view token = list.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
          token.remove_prefix(1);
        }
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
          token.remove_suffix(1);
        }
        if (iequals(token, name)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
  }
  return false;
}

// Which of the call's headers go to the function. Besides hop-by-hop ones:
// the framing is ours (chunked), Host is ours ("localhost": the function
// is reached over a socket), Expect would make the function answer
// "100 Continue" to a body we send anyway, and Fn-Call-Id / Fn-Deadline
// are the runner's to say.
bool forwarded(const wire::CallSpec& spec, std::string_view name) {
  if (is_hop_by_hop_header(name) || iequals(name, "Content-Length") || iequals(name, "Host") ||
      iequals(name, "Expect") || iequals(name, "Fn-Call-Id") || iequals(name, "Fn-Deadline")) {
    return false;
  }
  return !listed_by_connection(spec, name);
}

// "[\r\n]<hex size>\r\n": the CRLF that ends the previous chunk's data is
// sent with the next chunk's header, so each chunk is a single write of
// two ranges and the body bytes are never copied.
size_t chunk_header(char* out, size_t size, bool end_previous) {
  char* p = out;
  if (end_previous) {
    *p++ = '\r';
    *p++ = '\n';
  }
  char hex[16];
  int n = 0;
  do {
    hex[n++] = "0123456789abcdef"[size & 0xF];
    size >>= 4;
  } while (size != 0);
  while (n > 0) *p++ = hex[--n];
  *p++ = '\r';
  *p++ = '\n';
  return static_cast<size_t>(p - out);
}

}  // namespace

HttpStreamCall::HttpStreamCall(HttpStreamContainer* container, const wire::CallSpec& spec,
                               CallSink* sink)
    : container_(container), sink_(sink), max_response_bytes_(spec.max_response_bytes()) {
  build_head(spec);
  container_->pending_buffer().clear();
  // The deadline covers everything from here, a cold start included.
  container_->start_deadline(spec.deadline_unix_ms());
}

HttpStreamCall::~HttpStreamCall() { abort(); }

void HttpStreamCall::build_head(const wire::CallSpec& spec) {
  std::string& h = container_->head_buffer();
  h.clear();
  h.append("POST /call HTTP/1.1\r\nHost: localhost\r\nFn-Call-Id: ")
      .append(spec.id())
      .append("\r\nFn-Deadline: ")
      .append(rfc3339_utc_ms(spec.deadline_unix_ms()))
      .append("\r\n");
  // The supervisor validated names (tokens) and values (no CR, LF, NUL).
  for (const auto& header : spec.headers()) {
    if (!forwarded(spec, header.key())) continue;
    for (const auto& v : header.values())
      h.append(header.key()).append(": ").append(v).append("\r\n");
  }
  // The body streams in as the LB sends it: its length is never known
  // up front. (fdk-node, i.e. node's http server, reads chunked bodies.)
  h.append("Transfer-Encoding: chunked\r\n\r\n");
}

// --- request ----------------------------------------------------------------

void HttpStreamCall::request_data(std::span<const char> bytes) {
  if (bytes.empty() || request_stopped_) return;
  const std::string_view b(bytes.data(), bytes.size());
  if (phase_ == Phase::kWaitContainer) {
    // Only while a container starts: one frame is held, then
    // request_blocked() stops the session reading until we are connected.
    container_->pending_buffer().append(b);
    return;
  }
  if (phase_ == Phase::kExchange) write_chunk(b);
}

void HttpStreamCall::request_eof() {
  eof_requested_ = true;
  if (phase_ == Phase::kExchange && !request_stopped_ && !eof_sent_) write_end();
}

bool HttpStreamCall::request_blocked() const {
  if (phase_ == Phase::kWaitContainer) return !container_->pending_buffer().empty();
  if (phase_ != Phase::kExchange || request_stopped_) return false;
  return container_->write_over_high_watermark();
}

void HttpStreamCall::write_chunk(std::string_view bytes) {
  char header[24];
  const size_t n = chunk_header(header, bytes.size(), any_chunk_sent_);
  int rc;
  if (!head_sent_) {
    // The head goes out with the first chunk: one write, not two.
    std::string& head = container_->head_buffer();
    head.append(header, n);
    rc = container_->write(head, bytes);
    head_sent_ = true;
  } else {
    rc = container_->write(std::string_view(header, n), bytes);
  }
  any_chunk_sent_ = true;
  if (rc != 0) on_write_failed();
}

void HttpStreamCall::write_end() {
  const std::string_view end = any_chunk_sent_ ? "\r\n0\r\n\r\n" : "0\r\n\r\n";
  int rc;
  if (!head_sent_) {
    std::string& head = container_->head_buffer();
    head.append(end);
    rc = container_->write(head);
    head_sent_ = true;
  } else {
    rc = container_->write(end);
  }
  eof_sent_ = true;
  if (rc != 0) on_write_failed();
}

void HttpStreamCall::on_write_failed() {
  if (request_stopped_) return;
  // The function closed its end or died. Its answer (or the connection's
  // end) is still to be read; the rest of the body goes nowhere, and the
  // session must not stay paused waiting for a drain that never comes.
  request_stopped_ = true;
  if (phase_ != Phase::kDone) sink_->request_unblocked();
}

void HttpStreamCall::on_write_drained() {
  if (phase_ == Phase::kExchange && !request_stopped_) sink_->request_unblocked();
}

// --- container events --------------------------------------------------------

void HttpStreamCall::on_container_ready() {
  if (phase_ != Phase::kWaitContainer) return;
  phase_ = Phase::kExchange;
  container_->parser().reset(this);
  std::string& pending = container_->pending_buffer();
  if (!pending.empty()) {
    write_chunk(pending);
    pending.clear();
  }
  if (eof_requested_ && !request_stopped_ && !eof_sent_) write_end();
  if (phase_ == Phase::kExchange && !request_blocked()) sink_->request_unblocked();
}

void HttpStreamCall::on_start_failed(int code, std::string_view message, bool error_user) {
  finish(code, message, error_user);
}

void HttpStreamCall::on_response_bytes(std::string_view bytes) {
  if (phase_ != Phase::kExchange) return;
  size_t consumed = 0;
  const HttpResponseParser::Status st = container_->parser().feed(bytes, &consumed);
  if (phase_ != Phase::kExchange) return;  // a handler ended the call
  switch (st) {
    case HttpResponseParser::Status::kNeedMore:
      if (sink_->response_blocked()) container_->pause_reading();
      return;
    case HttpResponseParser::Status::kComplete:
      return after_response_complete(consumed < bytes.size());
    case HttpResponseParser::Status::kStopped:
      return;
    case HttpResponseParser::Status::kHeaderTooLarge:
      spdlog::info("call {}: function response headers over {} bytes", container_->call_id(),
                   container_->limits().max_response_header_bytes);
      return fail_kill(502, "function response header too large");
    case HttpResponseParser::Status::kInvalid:
      spdlog::info("call {}: function sent a malformed HTTP response ({})", container_->call_id(),
                   container_->parser().error_name());
      return fail_kill(502, "error receiving function response");
  }
}

void HttpStreamCall::on_connection_closed() {
  if (phase_ != Phase::kExchange) return;
  // A body delimited by the connection's end is complete now.
  if (container_->parser().feed_eof() == HttpResponseParser::Status::kComplete) {
    if (phase_ == Phase::kExchange) after_response_complete(false);
    return;
  }
  spdlog::info("call {}: the function closed the connection before its response ended",
               container_->call_id());
  fail_after_exit("error receiving function response");
}

void HttpStreamCall::on_container_exit() {
  if (phase_ == Phase::kWaitExit) {
    const bool oom = container_->oom_killed();
    return finish(502, oom ? kOomMessage : exit_message_, true);
  }
  // Still connected: what the function wrote before it died is read first,
  // and the connection's end then decides (on_connection_closed()).
  if (phase_ == Phase::kExchange && !container_->connected()) {
    fail_after_exit("error receiving function response");
  }
}

void HttpStreamCall::on_deadline() {
  if (phase_ == Phase::kDone) return;
  spdlog::info("call {}: deadline passed, killing the container", container_->call_id());
  fail_kill(504, "Timed out");
}

// --- response -------------------------------------------------------------

bool HttpStreamCall::on_response_head(int status, const HeaderList& headers) {
  status_ = status;
  if (status == 200 || status == 502) {
    // 502 is the FDK saying the function failed: its body explains it and
    // goes to the caller; the container itself is fine.
    sink_->result_start(status, headers);
    return true;
  }
  if (status == 504) {
    fail_kill(504, "Timed out");
    return false;
  }
  spdlog::info("call {}: function answered status {}", container_->call_id(), status);
  fail_kill(502, "invalid function response");
  return false;
}

bool HttpStreamCall::on_response_body(std::string_view bytes) {
  body_bytes_ += bytes.size();
  if (max_response_bytes_ != 0 && body_bytes_ > max_response_bytes_) {
    spdlog::info("call {}: function response body over {} bytes", container_->call_id(),
                 max_response_bytes_);
    fail_kill(502, "function response body too large");
    return false;
  }
  sink_->response_data(bytes);
  return true;
}

void HttpStreamCall::on_response_complete(bool keep_alive) {
  response_complete_ = true;
  keep_alive_ = keep_alive;
}

void HttpStreamCall::after_response_complete(bool extra_bytes) {
  // The connection carries the next call only if both directions ended
  // cleanly. A function may answer before reading its whole body: we stop
  // sending then, and since the request was cut short the connection is
  // out of step; so is one with bytes after the response. A fresh
  // connection for the next call costs a connect(); the container stays.
  const bool request_done = eof_sent_ && !request_stopped_ && container_->write_queued() == 0;
  request_stopped_ = true;
  if (!keep_alive_ || !request_done || extra_bytes) {
    spdlog::debug("call {}: not keeping the connection (keep-alive {}, request sent {}, extra {})",
                  container_->call_id(), keep_alive_, request_done, extra_bytes);
    container_->close_connection();
  }
  if (status_ == 200) return finish(200, "", false);
  finish(502, "function failed", true);
}

// --- endings ------------------------------------------------------------------

void HttpStreamCall::fail_kill(int code, std::string_view message) {
  container_->kill();
  finish(code, message, true);
}

void HttpStreamCall::fail_after_exit(std::string_view message) {
  // The function broke mid-call. Whether the kernel's OOM killer did it is
  // known for sure once the container's init has exited, so wait for that
  // (the kill makes it quick; the deadline still bounds it).
  exit_message_ = message;
  phase_ = Phase::kWaitExit;
  container_->kill();
  if (container_->exited()) on_container_exit();
}

void HttpStreamCall::finish(int code, std::string_view message, bool error_user) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  request_stopped_ = true;
  detach();
  // The session may have paused its frames for us; whatever body is still
  // on its way is dropped.
  sink_->request_unblocked();
  sink_->finish(code, message, error_user);
}

void HttpStreamCall::response_unblocked() {
  if (phase_ == Phase::kExchange) container_->resume_reading();
}

void HttpStreamCall::abort() {
  if (phase_ != Phase::kDone && container_ != nullptr) {
    // Mid-call the connection's state is unknown: the container goes.
    container_->kill();
  }
  phase_ = Phase::kDone;
  detach();
}

void HttpStreamCall::detach() {
  if (container_ == nullptr) return;
  container_->release(this);
  container_ = nullptr;
}

}  // namespace fnr
