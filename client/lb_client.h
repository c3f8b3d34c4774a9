#pragma once
// The LB side of RunnerProtocol: a client that talks to a runner the way
// Fn's 2018 load balancers did, so that tests, fn-runnerctl and the bench
// exercise the runner exactly as production traffic would
// (../shared/spec/runner-protocol.md, "Two LB builds speak generation A").
//
//   April 2018: Try, wait for the ack; NACK means "try the next runner";
//               then the body, then read until the stream ends. The user
//               always sees HTTP 200 unless the stream itself fails.
//   May 2018:   Try and the body at once; acks are ignored (but recorded);
//               gRPC status 503 or finished "503:..." means "try the next
//               runner", other failures are `code:message` for the user.
//
// One LbClient is one HTTP/2 connection (as in Fn: one per runner). It is
// thread-safe: any number of threads may engage() at once, each call is its
// own stream. Calls are synchronous; the caller's thread reads the response
// while, for bodies that could block on flow control, a helper thread writes
// the request.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace fnr::client {

enum class LbMode { kApril, kMay };
[[nodiscard]] std::string_view lb_mode_name(LbMode mode);
// Accepts "april" / "may" (and "apr2018" / "may2018").
[[nodiscard]] std::optional<LbMode> parse_lb_mode(std::string_view name);

struct TlsFiles {
  std::string ca{};    // PEM file: the authority that signed the runner's cert
  std::string cert{};  // PEM file: our client certificate (Fn LBs present one)
  std::string key{};   // PEM file: its private key
  // Name to check the runner's certificate against instead of the target's
  // host ("" = no override); runners are often dialled by IP.
  std::string server_name{};
};

// Every member has an initializer so designated initializers may skip any.
struct LbOptions {
  std::string target{};  // HOST:PORT, or any gRPC target URI
  LbMode mode = LbMode::kMay;
  std::optional<TlsFiles> tls{};  // nullopt: plaintext
  // Request body frame size; Fn's LBs read and send 10 KiB at a time.
  size_t chunk = 10240;
  // The April LB sent its whole read buffer in every frame, stale bytes
  // included (platform.md); true reproduces that so a runner can be tested
  // against it. The body the function sees is then garbage by design.
  bool april_stale_frames = false;
  // Stream deadline. 0: the call's `timeout` from its JSON (what Fn's LBs
  // did; 30 s when absent); negative: none (current Fn).
  std::chrono::milliseconds deadline{0};
  // Fn's LB client kept gRPC's default 4 MiB receive limit; a runner that
  // sends bigger frames breaks real LBs, so we fail the same way.
  int max_receive_bytes = 4 << 20;
};

// Where a request body comes from. Memory bodies are borrowed (or owned when
// moved in) and must outlive engage(); fds and istreams are read in `chunk`
// pieces as the bytes arrive, so a slow producer is streamed, not buffered.
class BodySource {
 public:
  BodySource() = default;                                  // empty body
  BodySource(std::string_view bytes) : bytes_(bytes) {}    // NOLINT: implicit on purpose
  BodySource(const char* bytes) : bytes_(bytes) {}         // NOLINT
  BodySource(const std::string& bytes) : bytes_(bytes) {}  // NOLINT
  BodySource(std::string&& bytes)                          // NOLINT
      : owned_(std::make_shared<std::string>(std::move(bytes))), bytes_(*owned_) {}
  static BodySource from_fd(int fd) {
    BodySource s;
    s.fd_ = fd;
    return s;
  }
  static BodySource from_stream(std::istream& in) {
    BodySource s;
    s.stream_ = &in;
    return s;
  }

  [[nodiscard]] bool in_memory() const { return fd_ < 0 && stream_ == nullptr; }
  [[nodiscard]] std::string_view bytes() const { return bytes_; }
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] std::istream* stream() const { return stream_; }

 private:
  std::shared_ptr<std::string> owned_;
  std::string_view bytes_;
  int fd_ = -1;  // not owned
  std::istream* stream_ = nullptr;
};

// Lets another thread cancel a call in flight (as an LB does when its user
// goes away). Cancelling before the call starts cancels it as it starts.
class CallCanceller {
 public:
  void cancel();
  [[nodiscard]] bool cancelled() const;

 private:
  friend class Engagement;
  void attach(grpc::ClientContext* ctx);
  void detach();

  mutable std::mutex mu_;
  grpc::ClientContext* ctx_ = nullptr;
  bool cancelled_ = false;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct CallOptions {
  // Overrides LbOptions::deadline for this call when set.
  std::optional<std::chrono::milliseconds> deadline{};
  // Client-gone tests: TryCancel the stream at these points.
  bool cancel_after_ack = false;
  std::optional<uint64_t> cancel_after_response_bytes{};  // 0: at result_start
  std::optional<uint64_t> cancel_after_request_bytes{};   // stop sending, then cancel
  CallCanceller* canceller = nullptr;
  // Streaming consumers, called on the engage() thread. With on_data set the
  // body is not kept in CallOutcome::body (only counted).
  std::function<void(int status_code, const Headers& headers)> on_result_start{};
  std::function<void(std::string_view bytes)> on_data{};
};

// What the LB would do next and tell its user.
struct LbVerdict {
  bool try_next_runner = false;  // placement failed here; the LB moves on
  int http_status = 0;           // the user's answer if this were the last try
  std::string http_message;      // error message for non-2xx answers
};

struct CallOutcome {
  // Body case of the runner's first message ("acknowledged", "result_start",
  // "data", "finished", "unset"); "" when it sent none.
  std::string first_message;
  // --- acknowledged (April acts on it, May only records it) ---
  bool acked = false;
  bool committed = false;
  bool nacked = false;  // acked && !committed
  std::string ack_details;
  std::string slot_latency;
  // --- result ---
  bool has_result_start = false;
  int status_code = 0;
  Headers headers;
  std::string body;  // empty when CallOptions::on_data consumed it
  uint64_t body_bytes = 0;
  uint64_t data_frames = 0;
  bool saw_eof = false;
  bool finished = false;
  bool finished_success = false;  // finished.success as sent
  bool success = false;           // ... and the stream then ended OK, uncancelled
  std::string details;            // finished.details: call id, or "code:message"
  int error_code = 0;
  std::string error_str;
  bool error_user = false;
  uint32_t messages_after_finished = 0;
  // --- how the stream ended ---
  int grpc_code = -1;  // grpc::StatusCode, or Fn's non-standard 503
  std::string grpc_message;
  bool cancelled_by_us = false;
  uint64_t request_bytes_sent = 0;
  bool request_eof_sent = false;
  // First deviation from runner-protocol.md seen (data before result_start,
  // a second result_start, messages after finished, no eof before finished,
  // April: first message not an ack, ...). "" when the runner behaved.
  std::string protocol_error;
  // Local failure: the body source could not be read (the call was cancelled).
  std::string client_error;
  // --- timings, from the Try being sent (0 when the event did not occur) ---
  std::chrono::microseconds to_ack{0};
  std::chrono::microseconds to_result_start{0};
  std::chrono::microseconds to_finished{0};
  std::chrono::microseconds latency{0};  // to the stream's end (status received)
  // --- what the LB of LbOptions::mode makes of it ---
  LbVerdict verdict;
};

struct RunnerStatusReply {
  bool ok = false;
  int grpc_code = -1;
  std::string grpc_message;
  int32_t active = 0;
  uint64_t requests_received = 0;
  uint64_t requests_handled = 0;
};

class LbClient {
 public:
  // nullptr with `error` set when TLS files cannot be read.
  static std::unique_ptr<LbClient> create(LbOptions options, std::string* error);
  ~LbClient();
  LbClient(const LbClient&) = delete;
  LbClient& operator=(const LbClient&) = delete;

  // One engagement: one stream, one call. Never throws for runner or
  // network trouble; everything lands in the outcome.
  CallOutcome engage(std::string_view call_json, const BodySource& body = {},
                     const CallOptions& call_options = {});

  RunnerStatusReply status(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Connects now rather than on the first call; false if the runner is not
  // reachable within `timeout` (startup waits in tests and tools).
  bool wait_connected(std::chrono::milliseconds timeout);

  [[nodiscard]] const LbOptions& options() const;

 private:
  struct Impl;
  explicit LbClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Derives the verdict of `mode`'s LB from a finished outcome (engage() sets
// it already; exposed for tests that build outcomes by hand).
[[nodiscard]] LbVerdict lb_verdict(LbMode mode, const CallOutcome& outcome);

// A failed finish's details, "<code>:<message>", split the way the May LB
// did (Go's SplitN and ParseInt); nullopt when it would have kept the
// details as an opaque error, which its user sees as a 500.
struct CodeMessage {
  int64_t code = 0;
  std::string message;
};
[[nodiscard]] std::optional<CodeMessage> parse_code_message(std::string_view details);

// The stream deadline Fn's LBs used: the call's `timeout` seconds, 30 when
// absent or not a positive number.
[[nodiscard]] std::chrono::milliseconds call_timeout_from_json(std::string_view call_json);

}  // namespace fnr::client
