#pragma once
// An HTTP/1.1 response parser for the http-stream format, over
// libhttp-parser (never by hand: framing bugs here would desynchronise a
// kept-alive connection). One parser lives as long as its connection and is
// reset per response, so its header storage is reused call after call.
//
// Hop-by-hop headers (RFC 7230 6.1: Connection, Keep-Alive, Proxy-*, TE,
// Trailer, Transfer-Encoding, Upgrade and whatever Connection names) are
// left out of what the handler sees: they describe this connection, not
// the function's answer.
#include <http_parser.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "worker/format_run.h"

namespace fnr {

// True for a header that must not cross a proxy (see above), not counting
// the names a Connection header lists.
[[nodiscard]] bool is_hop_by_hop_header(std::string_view name);

class HttpResponseParser {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // The status line and headers of the (final, non-1xx) response are in.
    // `headers` lives until the next reset(). Return false to stop parsing.
    virtual bool on_response_head(int status, const HeaderList& headers) = 0;
    // A piece of the (de-chunked) body, valid during the call only. Return
    // false to stop parsing.
    virtual bool on_response_body(std::string_view bytes) = 0;
    // The response ended. `keep_alive`: the connection may carry the next
    // request (HTTP/1.1 without Connection: close, and the body was framed).
    virtual void on_response_complete(bool keep_alive) = 0;
  };

  enum class Status {
    kNeedMore,        // everything consumed, the response goes on
    kComplete,        // the response ended; `consumed` tells where
    kStopped,         // a handler returned false
    kHeaderTooLarge,  // the header section passed the limit
    kInvalid,         // not HTTP/1.x as a server may send it
  };

  // `max_header_bytes` bounds the status line plus headers. It is a
  // process-wide setting of the library, which is fine in a worker: one
  // function, one limit.
  explicit HttpResponseParser(uint32_t max_header_bytes);
  HttpResponseParser(const HttpResponseParser&) = delete;
  HttpResponseParser& operator=(const HttpResponseParser&) = delete;

  // Starts a new response on the connection.
  void reset(Handler* handler);
  // Parses `bytes`; *consumed is how many belong to this response (on
  // kComplete the rest would be bytes the server sent unasked).
  Status feed(std::string_view bytes, size_t* consumed);
  // The server closed the connection: ends a body delimited by the close
  // (kComplete), or reports a truncated response (kInvalid).
  Status feed_eof();
  // The library's name for the last error, for logs.
  [[nodiscard]] const char* error_name() const;

 private:
  static int on_message_begin(http_parser* p);
  static int on_status(http_parser* p, const char* at, size_t n);
  static int on_header_field(http_parser* p, const char* at, size_t n);
  static int on_header_value(http_parser* p, const char* at, size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t n);
  static int on_message_complete(http_parser* p);
  static const http_parser_settings kSettings;

  void commit_header();
  void drop_connection_listed_headers();
  Status status_after(size_t parsed, size_t len);

  http_parser parser_{};
  Handler* handler_ = nullptr;
  // headers_[0, count_) are this response's; slots past count_ keep their
  // strings' capacity for the next response (see commit_header()).
  HeaderList headers_;
  size_t count_ = 0;
  std::pair<std::string, std::string> pending_;  // the header being read
  std::string connection_tokens_;                // what Connection headers listed
  bool in_value_ = false;
  bool have_pending_ = false;
  bool connection_lists_others_ = false;
  bool interim_ = false;  // a 1xx response is being skipped
  bool complete_ = false;
  bool stopped_ = false;
};

}  // namespace fnr
