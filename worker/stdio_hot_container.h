#pragma once
// The hot 2018 formats (`http`, `json`, function-contract.md): one process
// serves call after call over its stdin and stdout. What they share lives
// here: the container (started on the first call, with the 2018 formats'
// environment) and its pipes kept across calls, stderr logged under the
// current call's id, the request body buffered until its end (both formats
// must know it whole before they write the first byte: Content-Length, or
// a JSON string), the deadline, and telling a crash, an OOM kill or a
// contract violation from a clean answer, which alone keeps the container.
//
// What they differ in is a StdioProtocol: how a call is written to stdin
// and how its answer is read from stdout (http_format.cc, json_format.cc).
#include <linux/filter.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/worker.pb.h"
#include "worker/format_run.h"
#include "worker/hot_container.h"
#include "worker/stdio_container.h"

namespace fnr {

class StdioProtocol {
 public:
  enum class Verdict {
    kNeedMore,        // all consumed, the answer goes on
    kComplete,        // the answer ended; `consumed` tells where
    kInvalid,         // not this format: invalid_message()
    kHeaderTooLarge,  // the answer's head passed its limit
    kBodyTooLarge,    // the answer passed the call's max_response_bytes
  };

  virtual ~StdioProtocol() = default;
  // The call as written to stdin: `*head`, then `body` verbatim when true
  // is returned (false: the head carries the body itself).
  virtual bool encode_request(const wire::CallSpec& spec, std::string_view body,
                              std::string* head) = 0;
  // A new answer begins; it goes to `sink` (result_start, then the body),
  // with at most `max_body_bytes` of body.
  virtual void begin_response(CallSink* sink, uint64_t max_body_bytes) = 0;
  // Stdout bytes of the answer. On kComplete, *consumed is how many of
  // `bytes` belonged to it.
  virtual Verdict feed(std::string_view bytes, size_t* consumed) = 0;
  // Stdout ended: kComplete when that ends the answer (an HTTP body
  // delimited by the close), anything else means no answer came.
  virtual Verdict feed_eof() = 0;
  // "invalid <format> response from function"
  [[nodiscard]] virtual std::string_view invalid_message() const = 0;
  // Why the last kInvalid happened, for the log.
  [[nodiscard]] virtual std::string error_detail() const = 0;
};

class StdioHotCall;

class StdioHotContainer final : public HotContainer, private StdioContainer::Events {
 public:
  // Request bodies are buffered whole (see above), so they are capped in the
  // worker too; the supervisor's max_request_bytes is the same 64 MiB by
  // default and refuses bigger bodies first. The CallSpec has no field for
  // it, hence a constant. Past it: 413.
  static constexpr uint64_t kMaxRequestBytes = 64ULL << 20;
  // The answer cap when the CallSpec sets none: a JSON line is buffered
  // whole, so it may never be unbounded.
  static constexpr uint64_t kDefaultMaxResponseBytes = 64ULL << 20;

  StdioHotContainer(uv_loop_t* loop, const std::vector<sock_filter>& seccomp,
                    std::unique_ptr<StdioProtocol> protocol);
  ~StdioHotContainer() override;
  StdioHotContainer(const StdioHotContainer&) = delete;
  StdioHotContainer& operator=(const StdioHotContainer&) = delete;

  // HotContainer
  std::unique_ptr<FormatRun> begin_call(const wire::CallSpec& spec, CallSink* sink) override;
  [[nodiscard]] bool reusable() const override;

 private:
  friend class StdioHotCall;

  // StdioContainer::Events: passed to the current call, else handled idle.
  void on_stdout(std::string_view bytes) override;
  void on_stdout_eof() override;
  void on_stdin_drained() override {}
  void on_stdin_error(int uv_error) override;
  void on_exit(ExitStatus st) override;
  void on_deadline() override;

  // The container is beyond use: no call may run on it any more. With
  // `kill`, everything in it dies now (its exit is still reported).
  void retire(std::string_view why, bool kill);
  void release(StdioHotCall* call);

  uv_loop_t* loop_;
  const std::vector<sock_filter>& seccomp_;
  std::unique_ptr<StdioProtocol> protocol_;
  std::unique_ptr<StdioContainer> io_;
  StdioHotCall* current_ = nullptr;
  bool retired_ = false;  // this io_ serves no more calls
  std::string last_call_id_;
};

}  // namespace fnr
