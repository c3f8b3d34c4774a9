#include "worker/stdio_hot_container.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

namespace fnr {
namespace {

bool all_whitespace(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

}  // namespace

// One call on the hot container: the request buffered then written whole,
// the answer decoded by the format's StdioProtocol, and the call's end.
class StdioHotCall final : public FormatRun {
 public:
  StdioHotCall(StdioHotContainer* container, const wire::CallSpec& spec, CallSink* sink)
      : c_(container), sink_(sink), spec_(spec) {}
  ~StdioHotCall() override {
    // Destroyed mid-call (the session is ending): what the function still
    // does belongs to nobody, so the container must not serve again.
    if (!done_ && c_ != nullptr) c_->retire("its call was dropped", true);
    detach();
  }
  StdioHotCall(const StdioHotCall&) = delete;
  StdioHotCall& operator=(const StdioHotCall&) = delete;

  // FormatRun
  void request_data(std::span<const char> bytes) override;
  void request_eof() override;
  // The body is buffered (up to kMaxRequestBytes), never held back.
  [[nodiscard]] bool request_blocked() const override { return false; }
  void response_unblocked() override {
    if (c_ != nullptr && c_->io_) c_->io_->read_stdout();
  }
  void abort() override;

  // --- from the container, while this call is current ---------------------
  void on_stdout(std::string_view bytes);
  void on_stdout_eof();
  void on_exit();
  void on_deadline();
  // The container is being destroyed before this call.
  void container_gone() {
    c_ = nullptr;
    done_ = true;
  }
  // Ends the call; the container's reuse must be decided before this.
  void finish(int code, std::string_view message, bool error_user);

 private:
  StdioContainer& io() { return *c_->io_; }
  // The function broke mid-call: its exit tells an OOM kill from a failure.
  void function_broke(std::string_view why);
  void finish_after_exit();
  void detach();

  StdioHotContainer* c_;  // null once the call is over
  CallSink* sink_;
  const wire::CallSpec spec_;  // the request is encoded only at its end
  std::string body_;
  bool request_sent_ = false;
  bool answer_started_ = false;  // stdout bytes came for this call
  bool waiting_exit_ = false;
  bool done_ = false;
};

void StdioHotCall::request_data(std::span<const char> bytes) {
  if (done_ || request_sent_) return;
  if (body_.size() + bytes.size() > StdioHotContainer::kMaxRequestBytes) {
    spdlog::info("call {}: request body over {} bytes", spec_.id(),
                 StdioHotContainer::kMaxRequestBytes);
    // Nothing of this call reached the function: it stays good for the
    // next, unless it already started answering on its own.
    if (answer_started_) c_->retire("it answered a request it was never sent", true);
    finish(413, "request body too large", true);
    return;
  }
  body_.append(bytes.data(), bytes.size());
}

void StdioHotCall::request_eof() {
  if (done_ || request_sent_) return;
  request_sent_ = true;
  std::string head;
  const bool raw_body = c_->protocol_->encode_request(spec_, body_, &head);
  const int rc = io().write_stdin(head, raw_body ? std::string_view(body_) : std::string_view());
  // The writer copied whatever the pipe did not take at once.
  std::string().swap(body_);
  if (rc != 0) {
    // The function closed its stdin or died. Its stdout (an answer, or EOF
    // with its exit) or the deadline says how the call ends.
    spdlog::info("call {}: cannot write the request to the function: {}", spec_.id(),
                 uv_strerror(rc));
    io().close_stdin();
    c_->retire("it stopped reading its stdin", false);
  }
}

void StdioHotCall::abort() {
  if (done_) return;
  done_ = true;
  if (c_ != nullptr) c_->retire("the supervisor went away mid-call", true);
  detach();
}

void StdioHotCall::on_stdout(std::string_view bytes) {
  if (done_ || waiting_exit_) return;
  answer_started_ = true;
  size_t consumed = 0;
  switch (c_->protocol_->feed(bytes, &consumed)) {
    case StdioProtocol::Verdict::kNeedMore:
      if (sink_->response_blocked()) io().pause_stdout();
      return;
    case StdioProtocol::Verdict::kComplete:
      // The next call's answer must start with the next call: anything that
      // could shift answers by one retires the container.
      if (!all_whitespace(bytes.substr(consumed))) {
        c_->retire("it wrote more than one answer", true);
      } else if (!request_sent_) {
        c_->retire("it answered before it was sent the request", true);
      } else if (io().stdin_unread() != 0) {
        c_->retire("it answered without reading all of its request", true);
      }
      finish(200, "", false);
      return;
    case StdioProtocol::Verdict::kInvalid:
      spdlog::info("call {}: {} ({})", spec_.id(), c_->protocol_->invalid_message(),
                   c_->protocol_->error_detail());
      c_->retire("its answer was invalid", true);
      finish(502, c_->protocol_->invalid_message(), true);
      return;
    case StdioProtocol::Verdict::kHeaderTooLarge:
      c_->retire("its answer's head was too large", true);
      finish(502, "function response header too large", true);
      return;
    case StdioProtocol::Verdict::kBodyTooLarge:
      c_->retire("its answer was too large", true);
      finish(502, "function response body too large", true);
      return;
  }
}

void StdioHotCall::on_stdout_eof() {
  if (done_ || waiting_exit_) return;
  if (c_->protocol_->feed_eof() == StdioProtocol::Verdict::kComplete) {
    // An answer delimited by closing stdout: good, but the last one.
    c_->retire("it closed its stdout", true);
    finish(200, "", false);
    return;
  }
  function_broke("it closed its stdout mid-call");
}

void StdioHotCall::on_exit() {
  if (done_) return;
  // Otherwise the rest of stdout (maybe a whole answer) is still to be read;
  // its EOF comes next, as the container's processes are all gone.
  if (waiting_exit_) finish_after_exit();
}

void StdioHotCall::on_deadline() {
  if (done_) return;
  spdlog::info("call {}: deadline passed, killing the function", spec_.id());
  c_->retire("its call timed out", true);
  finish(504, "Timed out", true);
}

void StdioHotCall::function_broke(std::string_view why) {
  waiting_exit_ = true;
  c_->retire(why, true);
  if (io().exited()) finish_after_exit();
}

void StdioHotCall::finish_after_exit() {
  const ExitStatus& st = io().exit_status();
  if (io().out_of_memory(st)) {
    spdlog::info("call {}: function killed by the OOM killer", spec_.id());
    finish(502, kOutOfMemoryMessage, true);
    return;
  }
  spdlog::info("call {}: function {} {} mid-call", spec_.id(),
               st.signaled ? "killed by signal" : "exited", st.code);
  finish(502, "function failed", true);
}

void StdioHotCall::finish(int code, std::string_view message, bool error_user) {
  if (done_) return;
  done_ = true;
  detach();
  sink_->finish(code, message, error_user);
}

void StdioHotCall::detach() {
  if (c_ == nullptr) return;
  c_->release(this);
  c_ = nullptr;
}

// ---------------------------------------------------------------------------

StdioHotContainer::StdioHotContainer(uv_loop_t* loop, const std::vector<sock_filter>& seccomp,
                                     std::unique_ptr<StdioProtocol> protocol)
    : loop_(loop), seccomp_(seccomp), protocol_(std::move(protocol)) {}

StdioHotContainer::~StdioHotContainer() {
  if (current_ != nullptr) current_->container_gone();
}

std::unique_ptr<FormatRun> StdioHotContainer::begin_call(const wire::CallSpec& spec,
                                                         CallSink* sink) {
  // A container that died or misbehaved between calls is replaced: the
  // supervisor already counts this worker as holding one.
  if (io_ && retired_) io_.reset();
  auto call = std::make_unique<StdioHotCall>(this, spec, sink);
  last_call_id_ = spec.id();
  current_ = call.get();
  if (!io_) {
    ContainerError error{500, "could not start function"};
    try {
      io_ = StdioContainer::start(loop_, spec, seccomp_, this, &error);
    } catch (const std::exception& e) {
      spdlog::error("call {}: cannot start function: {}", spec.id(), e.what());
      error = {500, "could not start function"};
    }
    if (!io_) {
      spdlog::warn("call {}: {}", spec.id(), error.message);
      call->finish(error.code, error.message, error.code == 502);
      return call;
    }
    retired_ = false;
  }
  io_->set_log_call(spec.id());
  const uint64_t max_response =
      spec.max_response_bytes() != 0 ? spec.max_response_bytes() : kDefaultMaxResponseBytes;
  protocol_->begin_response(sink, max_response);
  io_->arm_deadline(spec.deadline_unix_ms());
  io_->read_stdout();
  return call;
}

bool StdioHotContainer::reusable() const { return io_ && !retired_; }

void StdioHotContainer::retire(std::string_view why, bool kill) {
  if (!retired_) spdlog::info("call {}: container not reused: {}", last_call_id_, why);
  retired_ = true;
  if (kill && io_) io_->kill();
}

void StdioHotContainer::release(StdioHotCall* call) {
  if (current_ != call) return;
  current_ = nullptr;
  if (!io_) return;
  io_->disarm_deadline();
  // Between calls stdout is still watched: output nobody asked for must
  // not become the next call's answer.
  if (!retired_) io_->read_stdout();
}

void StdioHotContainer::on_stdout(std::string_view bytes) {
  if (current_ != nullptr) return current_->on_stdout(bytes);
  if (retired_ || all_whitespace(bytes)) return;
  spdlog::warn("call {}: function wrote {} bytes to stdout between calls", last_call_id_,
               bytes.size());
  retire("it wrote to stdout between calls", true);
}

void StdioHotContainer::on_stdout_eof() {
  if (current_ != nullptr) return current_->on_stdout_eof();
  retire("it closed its stdout between calls", true);
}

void StdioHotContainer::on_stdin_error(int uv_error) {
  spdlog::info("call {}: function stdin: {}", last_call_id_, uv_strerror(uv_error));
  io_->close_stdin();
  retire("it stopped reading its stdin", false);
}

void StdioHotContainer::on_exit(ExitStatus st) {
  retire(st.signaled ? "its process was killed by signal " + std::to_string(st.code)
                     : "its process exited with " + std::to_string(st.code),
         false);
  if (current_ != nullptr) current_->on_exit();
}

void StdioHotContainer::on_deadline() {
  if (current_ != nullptr) current_->on_deadline();
}

}  // namespace fnr
