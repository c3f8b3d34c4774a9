#pragma once
// The two halves of running one call in a worker: the session towards the
// supervisor (CallSink) and the function-format driver (FormatRun). A new
// format (http-stream, http, json) is a new FormatRun; the session and the
// supervisor stay as they are.
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fnr {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual void result_start(int status, const HeaderList& headers) = 0;
  virtual void response_data(std::string_view bytes) = 0;
  // True while the supervisor link is over its high watermark: the format
  // stops reading the function until response_unblocked().
  [[nodiscard]] virtual bool response_blocked() const = 0;
  // The function took what was buffered: request frames may flow again.
  virtual void request_unblocked() = 0;
  // Ends the call. code 200 is success; anything else "<code>:<message>".
  virtual void finish(int code, std::string_view message, bool error_user) = 0;
};

class FormatRun {
 public:
  virtual ~FormatRun() = default;
  virtual void request_data(std::span<const char> bytes) = 0;
  virtual void request_eof() = 0;
  // True while request bytes wait for the function: the session stops
  // reading frames until CallSink::request_unblocked().
  [[nodiscard]] virtual bool request_blocked() const = 0;
  virtual void response_unblocked() = 0;
  // The supervisor went away: stop the function now; no finish() follows.
  virtual void abort() = 0;
};

}  // namespace fnr
