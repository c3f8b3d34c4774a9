#include "client/engagement.h"

#include <string>

#include "client/request_writer.h"

namespace fnr::client {
namespace {

std::string_view body_case_name(RunnerMsg::BodyCase c) {
  switch (c) {
    case RunnerMsg::kAcknowledged:
      return "acknowledged";
    case RunnerMsg::kResultStart:
      return "result_start";
    case RunnerMsg::kData:
      return "data";
    case RunnerMsg::kFinished:
      return "finished";
    case RunnerMsg::BODY_NOT_SET:
      break;
  }
  return "unset";
}

}  // namespace

void CallCanceller::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (ctx_ != nullptr) ctx_->TryCancel();
}

bool CallCanceller::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void CallCanceller::attach(grpc::ClientContext* ctx) {
  std::lock_guard lock(mu_);
  ctx_ = ctx;
  // gRPC keeps a cancel made before the call exists and applies it at start.
  if (cancelled_) ctx_->TryCancel();
}

void CallCanceller::detach() {
  std::lock_guard lock(mu_);
  ctx_ = nullptr;
}

Engagement::Engagement(RunnerProtocol::Stub& stub, const LbOptions& lb, const CallOptions& call)
    : stub_(stub), lb_(lb), call_(call) {}

Engagement::~Engagement() {
  if (call_.canceller != nullptr) call_.canceller->detach();
}

std::chrono::microseconds Engagement::since_start() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_);
}

void Engagement::cancel() {
  if (out_.cancelled_by_us) return;
  out_.cancelled_by_us = true;
  ctx_.TryCancel();
}

void Engagement::protocol_error(std::string_view what) {
  // The first deviation explains the rest; later ones are usually echoes.
  if (out_.protocol_error.empty()) out_.protocol_error = what;
}

CallOutcome Engagement::run(std::string_view call_json, const BodySource& body) {
  std::chrono::milliseconds deadline = call_.deadline.value_or(lb_.deadline);
  if (deadline.count() == 0) deadline = call_timeout_from_json(call_json);
  if (deadline.count() > 0) ctx_.set_deadline(std::chrono::system_clock::now() + deadline);
  // The request headers then leave with the Try: one write instead of two.
  ctx_.set_initial_metadata_corked(true);
  if (call_.canceller != nullptr) call_.canceller->attach(&ctx_);

  start_ = Clock::now();
  std::unique_ptr<Stream> stream = stub_.Engage(&ctx_);
  RequestWriter writer(*stream, ctx_, body,
                       RequestWriterConfig{
                           .chunk = lb_.chunk,
                           .stale_frames = lb_.mode == LbMode::kApril && lb_.april_stale_frames,
                           .cancel_after_bytes = call_.cancel_after_request_bytes,
                       });
  bool try_sent = false;
  {
    ClientMsg try_msg;
    try_msg.mutable_try_()->set_models_call_json(call_json.data(), call_json.size());
    // May sends the body at once: a small one leaves in the Try's TCP write,
    // as Go's transport coalesces the LB's back-to-back Sends.
    grpc::WriteOptions options;
    if (lb_.mode == LbMode::kMay && writer.can_write_inline()) options.set_buffer_hint();
    try_sent = stream->Write(try_msg, options);
  }

  auto send_body = [&] {
    if (writer.can_write_inline()) {
      writer.write_inline();
    } else {
      writer.start_thread();
    }
  };

  if (lb_.mode == LbMode::kApril) {
    // April holds the body back until the runner commits.
    if (try_sent && stream->Read(&msg_)) {
      on_message(msg_);
      if (out_.first_message != "acknowledged") {
        // April takes any other first message as "placed" and walks away:
        // the LB's own doing, not its user's, so not cancelled_by_us.
        ctx_.TryCancel();
      } else if (out_.committed && !out_.cancelled_by_us) {
        send_body();
      }
    }
  } else if (try_sent) {
    send_body();
  }

  drain(*stream);
  out_.latency = since_start();
  const RequestWriterResult written = writer.stop_and_join();
  const grpc::Status status = stream->Finish();

  out_.grpc_code = static_cast<int>(status.error_code());
  out_.grpc_message = status.error_message();
  out_.request_bytes_sent = written.bytes_sent;
  out_.request_eof_sent = written.eof_sent;
  out_.client_error = written.error;
  if (written.cancelled) out_.cancelled_by_us = true;
  if (call_.canceller != nullptr && call_.canceller->cancelled()) out_.cancelled_by_us = true;
  out_.success = out_.finished_success && out_.grpc_code == 0 && !out_.cancelled_by_us;

  if (!out_.cancelled_by_us) {
    if (out_.nacked && out_.grpc_code != 503) {
      protocol_error("NACK not followed by gRPC status 503 (got " + std::to_string(out_.grpc_code) +
                     ")");
    } else if (out_.finished && out_.grpc_code != 0) {
      protocol_error("finished followed by gRPC status " + std::to_string(out_.grpc_code));
    } else if (!out_.finished && !out_.nacked && out_.grpc_code == 0) {
      protocol_error("stream ended OK without finished");
    }
  }
  out_.verdict = lb_verdict(lb_.mode, out_);
  return std::move(out_);
}

void Engagement::drain(Stream& stream) {
  while (stream.Read(&msg_)) on_message(msg_);
}

void Engagement::on_message(const RunnerMsg& msg) {
  const std::string_view name = body_case_name(msg.body_case());
  if (out_.first_message.empty()) out_.first_message = name;
  if (out_.finished) {
    ++out_.messages_after_finished;
    protocol_error("message after finished: " + std::string(name));
    return;
  }
  if (out_.nacked) protocol_error("message after a NACK: " + std::string(name));
  switch (msg.body_case()) {
    case RunnerMsg::kAcknowledged:
      on_ack(msg.acknowledged());
      break;
    case RunnerMsg::kResultStart:
      on_result_start(msg.result_start());
      break;
    case RunnerMsg::kData:
      on_data(msg.data());
      break;
    case RunnerMsg::kFinished:
      on_finished(msg.finished());
      break;
    case RunnerMsg::BODY_NOT_SET:
      protocol_error("message with no body");
      break;
  }
}

void Engagement::on_ack(const CallAcknowledged& ack) {
  if (out_.acked) {
    protocol_error("a second acknowledged");
    return;
  }
  if (out_.first_message != "acknowledged") protocol_error("acknowledged is not the first message");
  out_.acked = true;
  out_.committed = ack.committed();
  out_.nacked = !ack.committed();
  out_.ack_details = ack.details();
  out_.slot_latency = ack.slot_allocation_latency();
  out_.to_ack = since_start();
  if (out_.committed && call_.cancel_after_ack) cancel();
}

void Engagement::on_result_start(const CallResultStart& start) {
  if (out_.has_result_start) {
    protocol_error("a second result_start");
    return;
  }
  if (out_.first_message != "acknowledged") protocol_error("result_start before acknowledged");
  out_.has_result_start = true;
  out_.to_result_start = since_start();
  if (start.has_http()) {
    out_.status_code = start.http().status_code();
    out_.headers.reserve(static_cast<size_t>(start.http().headers_size()));
    for (const HttpHeader& h : start.http().headers())
      out_.headers.emplace_back(h.key(), h.value());
  } else {
    protocol_error("result_start without http meta");
  }
  if (call_.on_result_start) call_.on_result_start(out_.status_code, out_.headers);
  if (call_.cancel_after_response_bytes && *call_.cancel_after_response_bytes == 0) cancel();
}

void Engagement::on_data(const DataFrame& frame) {
  if (!out_.has_result_start) protocol_error("data before result_start");
  if (out_.saw_eof) protocol_error("data after the eof frame");
  const std::string& bytes = frame.data();
  out_.body_bytes += bytes.size();
  ++out_.data_frames;
  if (call_.on_data) {
    if (!bytes.empty()) call_.on_data(bytes);
  } else {
    out_.body.append(bytes);
  }
  if (frame.eof()) out_.saw_eof = true;
  if (call_.cancel_after_response_bytes && out_.body_bytes >= *call_.cancel_after_response_bytes) {
    cancel();
  }
}

void Engagement::on_finished(const CallFinished& finished) {
  out_.finished = true;
  out_.finished_success = finished.success();
  out_.details = finished.details();
  out_.error_code = finished.error_code();
  out_.error_str = finished.error_str();
  out_.error_user = finished.error_user();
  out_.to_finished = since_start();
  if (finished.success()) {
    if (!out_.has_result_start) {
      protocol_error("successful finish without result_start");
    } else if (!out_.saw_eof) {
      protocol_error("successful finish without the eof data frame");
    }
  } else if (!parse_code_message(out_.details)) {
    protocol_error("failed finish details are not code:message: " + out_.details);
  }
}

}  // namespace fnr::client
