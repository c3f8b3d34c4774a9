// libFuzzer target: the worker's HTTP response parser (worker/
// http_response_parser.h) on arbitrary bytes in random chunks (see
// fuzz_chunks.h), one response after another on the same parser as on a
// kept-alive http-stream connection, then the connection's end. Control
// bits make the handler stop parsing at the head or in the body. Checks
// the parser's contract: consumed counts, the handler's call order, no
// 1xx interim head and no hop-by-hop header reaching the handler.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_chunks.h"
#include "worker/http_response_parser.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Small enough that a seed's long header line crosses it.
constexpr uint32_t kMaxHeaderBytes = 8192;

class Checker : public fnr::HttpResponseParser::Handler {
 public:
  Checker(bool stop_at_head, bool stop_in_body)
      : stop_at_head_(stop_at_head), stop_in_body_(stop_in_body) {}

  void start() {
    head_ = false;
    complete_ = false;
    body_bytes_ = 0;
  }

  bool on_response_head(int status, const fnr::HeaderList& headers) override {
    check(!head_ && !complete_);
    check(status == 101 || status < 100 || status >= 200);
    for (const auto& [name, value] : headers) {
      check(!fnr::is_hop_by_hop_header(name));
      (void)value;
    }
    head_ = true;
    return !stop_at_head_;
  }

  bool on_response_body(std::string_view bytes) override {
    check(head_ && !complete_);
    check(!bytes.empty());
    body_bytes_ += bytes.size();
    return !(stop_in_body_ && body_bytes_ > 3);
  }

  void on_response_complete(bool keep_alive) override {
    check(head_ && !complete_);
    complete_ = true;
    (void)keep_alive;
  }

  [[nodiscard]] bool complete() const { return complete_; }

 private:
  bool stop_at_head_;
  bool stop_in_body_;
  bool head_ = false;
  bool complete_ = false;
  size_t body_bytes_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using Status = fnr::HttpResponseParser::Status;
  fnr::fuzz::Chunker chunks(data, size);
  Checker handler((chunks.control() & 0x10U) != 0, (chunks.control() & 0x20U) != 0);
  fnr::HttpResponseParser parser(kMaxHeaderBytes);
  handler.start();
  parser.reset(&handler);

  bool broken = false;  // the parser refused the stream or was stopped
  while (!chunks.done() && !broken) {
    std::string_view chunk = chunks.next();
    // Bytes past a complete response start the next one, as on a kept-alive
    // connection where the next request's answer follows.
    while (!chunk.empty() && !broken) {
      size_t consumed = SIZE_MAX;
      const Status st = parser.feed(chunk, &consumed);
      check(consumed <= chunk.size());
      switch (st) {
        case Status::kNeedMore:
          check(consumed == chunk.size());
          check(!handler.complete());
          chunk = {};
          break;
        case Status::kComplete:
          check(handler.complete());
          check(consumed > 0);  // else the loop would never end
          chunk.remove_prefix(consumed);
          // Feeding an ended response again must stay harmless.
          if (!chunk.empty() && (chunks.control() & 0x40U) != 0) {
            size_t again = 0;
            (void)parser.feed(chunk.substr(0, 1), &again);
          }
          handler.start();
          parser.reset(&handler);
          break;
        case Status::kStopped:
        case Status::kHeaderTooLarge:
        case Status::kInvalid:
          check(parser.error_name() != nullptr);
          broken = true;
          break;
      }
    }
  }
  if (!broken) {
    const Status st = parser.feed_eof();
    check(st == Status::kComplete || st == Status::kInvalid);
    if (st == Status::kComplete) check(handler.complete());
  }
  return 0;
}
