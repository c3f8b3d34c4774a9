#include "bench/fake_runner.h"

#include <google/protobuf/empty.pb.h>

#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "proto/runner.grpc.pb.h"

namespace fnr::bench {
namespace {

const grpc::Status kNoCapacity(static_cast<grpc::StatusCode>(503), "fake runner: no capacity");

enum class Script {
  kEcho,
  kCreated,
  kNack,
  kBusy,
  kTimeout,
  kGrpcBusy,
  kAbort,
  kNoAck,
  kLateError,
  kSlow
};

Script script_for(const std::string& image) {
  if (image == "fake/nack") return Script::kNack;
  if (image == "fake/busy") return Script::kBusy;
  if (image == "fake/timeout") return Script::kTimeout;
  if (image == "fake/grpc-busy") return Script::kGrpcBusy;
  if (image == "fake/abort") return Script::kAbort;
  if (image == "fake/no-ack") return Script::kNoAck;
  if (image == "fake/late-error") return Script::kLateError;
  if (image == "fake/slow") return Script::kSlow;
  if (image == "fake/created") return Script::kCreated;
  return Script::kEcho;
}

RunnerMsg ack(bool committed, const std::string& details) {
  RunnerMsg m;
  m.mutable_acknowledged()->set_committed(committed);
  m.mutable_acknowledged()->set_details(details);
  m.mutable_acknowledged()->set_slot_allocation_latency("1µs");
  return m;
}

RunnerMsg result_start(int status, const std::string& call_id) {
  RunnerMsg m;
  HttpRespMeta* http = m.mutable_result_start()->mutable_http();
  http->set_status_code(status);
  HttpHeader* h = http->add_headers();
  h->set_key("Content-Type");
  h->set_value("application/octet-stream");
  h = http->add_headers();
  h->set_key("Fn-Call-Id");
  h->set_value(call_id);
  return m;
}

RunnerMsg data(std::string bytes, bool eof) {
  RunnerMsg m;
  m.mutable_data()->set_data(std::move(bytes));
  m.mutable_data()->set_eof(eof);
  return m;
}

RunnerMsg finished(bool success, const std::string& details) {
  RunnerMsg m;
  m.mutable_finished()->set_success(success);
  m.mutable_finished()->set_details(details);
  return m;
}

// One engagement. Decisions are made under the lock; gRPC operations are
// started after it is dropped, because Finish may run OnDone (and so
// `delete this`) inline.
class FakeEngage : public grpc::ServerBidiReactor<ClientMsg, RunnerMsg> {
 public:
  explicit FakeEngage(FakeRunner::Counters& counters) : counters_(counters) {
    counters_.active.fetch_add(1);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    Action next;
    bool read_again = false;
    {
      std::lock_guard lock(mu_);
      if (!ok) {
        // The client went away or half-closed: nothing more will come.
        if (!finish_status_)
          finish_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
      } else if (!call_started_) {
        on_try_locked();
      } else if (in_.has_data()) {
        on_data_locked(in_.data());
      }
      read_again = ok && !finish_status_;
      next = next_action_locked();
    }
    if (read_again) StartRead(&in_);
    perform(next);
  }

  void OnWriteDone(bool ok) override {
    Action next;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) {
        queue_.clear();
        if (!finish_status_)
          finish_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
      }
      next = next_action_locked();
    }
    perform(next);
  }

  void OnCancel() override {
    Action next;
    {
      std::lock_guard lock(mu_);
      queue_.clear();
      if (!finish_status_) finish_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      next = next_action_locked();
    }
    perform(next);
  }

  void OnDone() override {
    counters_.active.fetch_sub(1);
    delete this;
  }

 private:
  enum class Action { kNone, kWrite, kWriteAndFinish, kFinish };

  void on_try_locked() {
    call_started_ = true;
    counters_.received.fetch_add(1);
    std::string image;
    if (in_.has_try_()) {
      const auto doc = nlohmann::json::parse(in_.try_().models_call_json(), nullptr, false);
      if (doc.is_object()) {
        call_id_ = doc.value("id", "");
        image = doc.value("image", "");
      }
    }
    script_ = script_for(image);
    if (script_ != Script::kNack) counters_.handled.fetch_add(1);
    switch (script_) {
      case Script::kEcho:
      case Script::kCreated:
      case Script::kLateError:
        queue_.push_back(ack(true, call_id_));
        break;
      case Script::kNack:
        queue_.push_back(ack(false, kNoCapacity.error_message()));
        finish_status_ = kNoCapacity;
        break;
      case Script::kBusy:
        queue_.push_back(ack(true, call_id_));
        queue_.push_back(finished(false, "503:fake runner busy"));
        finish_status_ = grpc::Status::OK;
        break;
      case Script::kTimeout:
        queue_.push_back(ack(true, call_id_));
        queue_.push_back(finished(false, "504:Timed out"));
        finish_status_ = grpc::Status::OK;
        break;
      case Script::kGrpcBusy:
        queue_.push_back(ack(true, call_id_));
        finish_status_ = kNoCapacity;
        break;
      case Script::kAbort:
        queue_.push_back(ack(true, call_id_));
        queue_.push_back(result_start(200, call_id_));
        finish_status_ = grpc::Status(grpc::StatusCode::INTERNAL, "fake runner abort");
        break;
      case Script::kNoAck:
        queue_.push_back(result_start(200, call_id_));
        queue_.push_back(data("hi", true));
        queue_.push_back(finished(true, call_id_));
        finish_status_ = grpc::Status::OK;
        break;
      case Script::kSlow:
        queue_.push_back(ack(true, call_id_));
        queue_.push_back(result_start(200, call_id_));
        queue_.push_back(data("tick-tock!", false));
        break;
    }
  }

  void on_data_locked(const DataFrame& frame) {
    if (script_ != Script::kEcho && script_ != Script::kCreated && script_ != Script::kLateError) {
      return;
    }
    if (!result_started_) {
      result_started_ = true;
      queue_.push_back(result_start(script_ == Script::kCreated ? 201 : 200, call_id_));
    }
    if (!frame.data().empty()) queue_.push_back(data(frame.data(), false));
    if (frame.eof()) {
      queue_.push_back(data({}, true));
      queue_.push_back(finished(true, call_id_));
      finish_status_ = script_ == Script::kLateError
                           ? grpc::Status(grpc::StatusCode::INTERNAL, "fake late error")
                           : grpc::Status::OK;
    }
  }

  Action next_action_locked() {
    if (writing_) return Action::kNone;
    if (!queue_.empty()) {
      // Batched as the runner batches: a buffer hint while more is queued,
      // and the last message leaves with the status.
      out_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      write_options_ = grpc::WriteOptions();
      if (queue_.empty() && finish_status_ && !finish_called_) {
        finish_called_ = true;
        return Action::kWriteAndFinish;
      }
      if (!queue_.empty()) write_options_.set_buffer_hint();
      return Action::kWrite;
    }
    if (finish_status_ && !finish_called_) {
      finish_called_ = true;
      return Action::kFinish;
    }
    return Action::kNone;
  }

  void perform(Action a) {
    if (a == Action::kWrite) StartWrite(&out_, write_options_);
    // Last: may delete this.
    if (a == Action::kWriteAndFinish) StartWriteAndFinish(&out_, write_options_, *finish_status_);
    if (a == Action::kFinish) Finish(*finish_status_);
  }

  FakeRunner::Counters& counters_;
  std::mutex mu_;
  ClientMsg in_;
  RunnerMsg out_;  // the one write in flight
  grpc::WriteOptions write_options_;
  std::deque<RunnerMsg> queue_;
  bool writing_ = false;
  bool call_started_ = false;
  bool result_started_ = false;
  bool finish_called_ = false;
  std::optional<grpc::Status> finish_status_;  // decided; sent once the queue drains
  Script script_ = Script::kEcho;
  std::string call_id_;
};

}  // namespace

struct FakeRunner::Service : RunnerProtocol::CallbackService {
  explicit Service(Counters& c) : counters(c) {}

  grpc::ServerBidiReactor<ClientMsg, RunnerMsg>* Engage(grpc::CallbackServerContext*) override {
    return new FakeEngage(counters);
  }

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const google::protobuf::Empty*,
                                   RunnerStatus* reply) override {
    reply->set_active(counters.active.load());
    reply->set_requests_received(counters.received.load());
    reply->set_requests_handled(counters.handled.load());
    grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  Counters& counters;
};

std::unique_ptr<FakeRunner> FakeRunner::start(std::string* error) {
  std::unique_ptr<FakeRunner> f(new FakeRunner());
  f->service_ = std::make_unique<Service>(f->counters_);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(f->service_.get());
  f->server_ = builder.BuildAndStart();
  if (!f->server_ || port == 0) {
    *error = "cannot start the fake runner on 127.0.0.1";
    return nullptr;
  }
  f->address_ = "127.0.0.1:" + std::to_string(port);
  return f;
}

FakeRunner::~FakeRunner() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace fnr::bench
