#include "worker/call_session.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "worker/container_ready.h"
#include "worker/default_format.h"
#include "worker/stdio_container.h"

namespace fnr {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

CallSession::CallSession(uv_loop_t* loop, UniqueFd supervisor_socket,
                         const std::vector<sock_filter>& seccomp)
    : loop_(loop), seccomp_(seccomp), link_(loop, std::move(supervisor_socket), this) {
  link_.start_reading();
  set_container_ready_listener([this](int64_t start_ns) {
    wire::ContainerReady ready;
    ready.set_start_ns(start_ns);
    send(FrameType::kContainerReady, ready.SerializeAsString());
  });
}

CallSession::~CallSession() {
  set_container_ready_listener(nullptr);
  run_.reset();
  link_.close();
}

void CallSession::on_frame(FrameType type, std::span<const char> payload) {
  if (!have_spec_) {
    if (type == FrameType::kCallSpec) return start_call(payload);
    // Request bytes the supervisor sent before it saw the last call finish
    // (the function answered before reading all of its body): not ours.
    if (hot_ && (type == FrameType::kRequestData || type == FrameType::kRequestEof)) return;
    return protocol_error("expected a call spec");
  }
  switch (type) {
    case FrameType::kRequestData:
      if (run_) {
        run_->request_data(payload);
        if (run_->request_blocked()) link_.stop_reading();
      }
      return;
    case FrameType::kRequestEof:
      if (run_) run_->request_eof();
      return;
    default:
      return protocol_error(std::string("unexpected ") + std::string(frame_type_name(type)) +
                            " frame");
  }
}

void CallSession::start_call(std::span<const char> payload) {
  if (!spec_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return protocol_error("call spec does not parse");
  }
  have_spec_ = true;
  finished_ = false;
  started_ns_ = now_ns();
  spdlog::debug("call {}: starting {} ({} format{})", spec_.id(), spec_.image(), spec_.format(),
                hot_ ? ", hot container" : "");
  // The previous call's run is done (it finished); drop it only now, never
  // from inside its own finish() callback.
  run_.reset();
  if (!hot_ && spec_.format() != "default") hot_ = make_hot_container(loop_, spec_, seccomp_);
  if (hot_) {
    run_ = hot_->begin_call(spec_, this);
  } else if (spec_.format() == "default") {
    run_ = std::make_unique<DefaultFormatRun>(loop_, spec_, this, seccomp_);
  } else {
    finish(502, "format '" + spec_.format() + "' is not supported", true);
  }
}

void CallSession::protocol_error(const std::string& why) {
  spdlog::error("call {}: supervisor protocol error: {}", spec_.id(), why);
  stop();
}

void CallSession::on_stream_closed(const std::string& reason) {
  if (!finished_) spdlog::info("call {}: supervisor link closed ({}), ending", spec_.id(), reason);
  stop();
}

void CallSession::on_drain() {
  if (exiting_) {
    if (link_.queued_bytes() == 0) stop();
    return;
  }
  if (run_) run_->response_unblocked();
}

void CallSession::request_unblocked() { link_.start_reading(); }

void CallSession::result_start(int status, const HeaderList& headers) {
  wire::ResultStart rs;
  rs.set_status_code(status);
  for (const auto& [k, v] : headers) {
    auto* h = rs.add_headers();
    h->set_key(k);
    h->add_values(v);
  }
  send(FrameType::kResultStart, rs.SerializeAsString());
}

void CallSession::response_data(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), kDataChunk);
    if (!send(FrameType::kResponseData, bytes.substr(0, n))) return;
    bytes.remove_prefix(n);
  }
}

void CallSession::finish(int code, std::string_view message, bool error_user) {
  if (finished_) return;
  finished_ = true;
  wire::Finished f;
  f.set_success(code == 200);
  f.set_code(code);
  f.set_message(std::string(message));
  f.set_error_user(error_user);
  f.set_started_unix_ns(started_ns_);
  f.set_execution_ns(now_ns() - started_ns_);
  const bool kept = hot_ && hot_->reusable();
  f.set_container_kept(kept);
  // Every format words an OOM kill the same way (the LB's users see it);
  // the flag spares the supervisor from parsing messages.
  f.set_oom_killed(code == 502 && message == kOutOfMemoryMessage);
  have_spec_ = false;
  // The call's last frame: it and whatever this turn gathered before it
  // (result start, data) leave now, in one write, rather than at the end of
  // a turn that may go on reading request bytes nobody wants any more.
  if (!send(FrameType::kFinished, f.SerializeAsString()) || !link_.flush()) return;
  if (kept) return;  // wait for the next CALL_SPEC (or the link closing)
  exiting_ = true;
  if (link_.queued_bytes() == 0) {
    stop();
  } else {
    link_.notify_when_empty();
  }
}

bool CallSession::send(FrameType type, std::string_view payload) {
  if (link_.send(type, payload)) return true;
  // The supervisor stopped reading us: it cancelled the call or is gone.
  spdlog::info("call {}: supervisor no longer reads, ending", spec_.id());
  stop();
  return false;
}

void CallSession::stop() { uv_stop(loop_); }

}  // namespace fnr
