#include "bench/async_engage.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "bench/call_json.h"
#include "proto/runner.grpc.pb.h"

namespace fnr::bench {
namespace {

using Clock = std::chrono::steady_clock;

class Run;

// One call slot: starts a call, and when it ends, the next one.
class Slot {
 public:
  Slot(Run& run, uint32_t index);
  void start();
  struct Tag {
    Slot* slot;
    void (Slot::*reaction)(bool);
  };

 private:
  void on_write(bool ok);
  void on_read(bool ok);
  void on_finish(bool ok);
  void on_message();
  void end_op();

  Run& run_;
  std::string id_prefix_;
  uint64_t seq_ = 0;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<ClientMsg, RunnerMsg>> stream_;
  ClientMsg try_;
  RunnerMsg in_;
  grpc::Status status_;
  Tag write_tag_{this, &Slot::on_write};
  Tag read_tag_{this, &Slot::on_read};
  Tag finish_tag_{this, &Slot::on_finish};
  int pending_ = 0;
  int writes_ = 0;
  bool first_message_ = true;
  bool nacked_ = false;
  bool finished_ok_ = false;
  bool finish_done_ = false;
  std::string failure_;
  Clock::time_point started_;
  Clock::time_point ended_;
};

class Run {
 public:
  Run(const Options& o, const std::shared_ptr<grpc::Channel>& channel)
      : o_(o),
        stub_(RunnerProtocol::NewStub(channel)),
        tmpl_(bench_call_template(o)),
        run_id_(std::to_string(std::random_device{}() % 100000)) {
    body_.mutable_data()->set_data(std::string(o.size, 'b'));
    body_.mutable_data()->set_eof(true);
  }

  RunResult run() {
    std::vector<std::unique_ptr<Slot>> slots;
    for (uint32_t i = 0; i < o_.concurrency; ++i) slots.push_back(std::make_unique<Slot>(*this, i));
    for (auto& s : slots) s->start();
    void* tag = nullptr;
    bool ok = false;
    while (in_flight_ > 0 && cq_.Next(&tag, &ok)) {
      const auto* t = static_cast<Slot::Tag*>(tag);
      (t->slot->*t->reaction)(ok);
    }
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
    result_.concurrency = o_.concurrency;
    result_.ok = result_.latencies_ns.size();
    if (last_end_ > measured_start_) {
      result_.seconds = std::chrono::duration<double>(last_end_ - measured_start_).count();
    }
    std::sort(result_.latencies_ns.begin(), result_.latencies_ns.end());
    return std::move(result_);
  }

  // A slot wants to begin a call: false when the run is over.
  bool take_ticket() {
    const uint64_t n = issued_++;
    if (n == o_.warmup) measured_start_ = Clock::now();
    if (n >= o_.warmup + o_.calls) return false;
    if (n > o_.warmup && Clock::now() - measured_start_ > o_.duration) return false;
    ++in_flight_;
    return true;
  }

  // The warm-up's calls end before the measured ones begin to count.
  void record(Clock::time_point started, Clock::time_point ended, bool nacked,
              const std::string& failure) {
    --in_flight_;
    if (started < measured_start_) return;
    last_end_ = std::max(last_end_, ended);
    if (nacked) {
      ++result_.nacks;
    } else if (!failure.empty()) {
      ++result_.errors;
      if (result_.first_error.empty()) result_.first_error = failure;
    } else {
      result_.latencies_ns.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(ended - started).count());
    }
  }

  const Options& o_;
  std::unique_ptr<RunnerProtocol::Stub> stub_;
  grpc::CompletionQueue cq_;
  CallTemplate tmpl_;
  std::string run_id_;
  ClientMsg body_;

 private:
  uint64_t issued_ = 0;
  uint32_t in_flight_ = 0;
  Clock::time_point measured_start_ = Clock::time_point::max();
  Clock::time_point last_end_{};
  RunResult result_;
};

Slot::Slot(Run& run, uint32_t index)
    : run_(run), id_prefix_("bench-" + run.run_id_ + "-" + std::to_string(index) + "-") {}

void Slot::start() {
  if (!run_.take_ticket()) return;
  stream_.reset();  // it refers to the old context
  ctx_ = std::make_unique<grpc::ClientContext>();
  ctx_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(run_.o_.timeout_s));
  // The headers leave with the Try; a corked start has no completion.
  ctx_->set_initial_metadata_corked(true);
  run_.tmpl_.render(id_prefix_ + std::to_string(seq_++),
                    try_.mutable_try_()->mutable_models_call_json());
  first_message_ = true;
  nacked_ = false;
  finished_ok_ = false;
  finish_done_ = false;
  failure_.clear();
  writes_ = 0;
  started_ = Clock::now();
  stream_ = run_.stub_->PrepareAsyncEngage(ctx_.get(), &run_.cq_);
  stream_->StartCall(nullptr);
  // The body follows at once in the same TCP write, as Go's transport
  // coalesces the May LB's back-to-back Sends.
  pending_ = 2;
  stream_->Write(try_, grpc::WriteOptions().set_buffer_hint(), &write_tag_);
  stream_->Read(&in_, &read_tag_);
}

void Slot::on_write(bool ok) {
  if (ok && ++writes_ == 1) {
    ++pending_;
    stream_->Write(run_.body_, &write_tag_);
  }
  end_op();
}

void Slot::on_read(bool ok) {
  if (ok) {
    on_message();
    ++pending_;
    stream_->Read(&in_, &read_tag_);
  } else {
    ended_ = Clock::now();
    ++pending_;
    stream_->Finish(&status_, &finish_tag_);
  }
  end_op();
}

void Slot::on_message() {
  if (first_message_) {
    first_message_ = false;
    if (!in_.has_acknowledged()) {
      failure_ = "first message is not acknowledged";
    } else if (!in_.acknowledged().committed()) {
      nacked_ = true;
    }
  }
  if (in_.has_finished()) {
    finished_ok_ = in_.finished().success();
    if (!finished_ok_ && failure_.empty()) failure_ = "finished " + in_.finished().details();
  }
}

void Slot::on_finish(bool /*ok*/) {
  finish_done_ = true;
  if (failure_.empty() && !nacked_) {
    if (!status_.ok()) {
      failure_ = "gRPC " + std::to_string(status_.error_code()) + ": " + status_.error_message();
    } else if (!finished_ok_) {
      failure_ = "stream ended without finished";
    }
  }
  end_op();
}

void Slot::end_op() {
  if (--pending_ > 0 || !finish_done_) return;
  run_.record(started_, ended_, nacked_, failure_);
  start();
}

}  // namespace

std::optional<RunResult> run_async_engage(const Options& options,
                                          const std::shared_ptr<grpc::Channel>& channel,
                                          std::string* error) {
  if (!channel) {
    *error = "no channel";
    return std::nullopt;
  }
  Run run(options, channel);
  return run.run();
}

}  // namespace fnr::bench
