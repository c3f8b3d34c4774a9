#include "bench/pingpong.h"

#include "bench/bench.grpc.pb.h"

namespace fnr::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Echoes each ping; one read or one write outstanding at a time, so the
// same message buffer serves both.
class EchoReactor : public grpc::ServerBidiReactor<fnrbench::Ping, fnrbench::Ping> {
 public:
  EchoReactor() { StartRead(&msg_); }
  void OnReadDone(bool ok) override {
    if (ok) {
      StartWrite(&msg_);
    } else {
      Finish(grpc::Status::OK);  // the client half-closed or went away
    }
  }
  void OnWriteDone(bool ok) override {
    if (ok) {
      StartRead(&msg_);
    } else {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "echo write failed"));
    }
  }
  void OnDone() override { delete this; }

 private:
  fnrbench::Ping msg_;
};

class OneStreamWorker : public Worker {
 public:
  OneStreamWorker(const std::shared_ptr<grpc::Channel>& channel, size_t size)
      : stub_(fnrbench::Echo::NewStub(channel)), stream_(stub_->PingPong(&ctx_)) {
    ping_.set_payload(std::string(size, 'p'));
  }
  ~OneStreamWorker() override {
    stream_->WritesDone();
    stream_->Finish();
  }
  OpResult call() override {
    const auto t0 = Clock::now();
    if (!stream_->Write(ping_) || !stream_->Read(&pong_)) {
      return {OpResult::Kind::kError, {}, "echo stream broke"};
    }
    return {OpResult::Kind::kOk, Clock::now() - t0, {}};
  }

 private:
  std::unique_ptr<fnrbench::Echo::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<fnrbench::Ping, fnrbench::Ping>> stream_;
  fnrbench::Ping ping_;
  fnrbench::Ping pong_;
};

class StreamPerCallWorker : public Worker {
 public:
  StreamPerCallWorker(const std::shared_ptr<grpc::Channel>& channel, size_t size)
      : stub_(fnrbench::Echo::NewStub(channel)) {
    ping_.set_payload(std::string(size, 'p'));
  }
  OpResult call() override {
    const auto t0 = Clock::now();
    grpc::ClientContext ctx;
    auto stream = stub_->PingPong(&ctx);
    const bool exchanged = stream->Write(ping_) && stream->Read(&pong_);
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    if (!exchanged || !status.ok()) {
      return {OpResult::Kind::kError, {}, "echo stream failed: " + status.error_message()};
    }
    return {OpResult::Kind::kOk, Clock::now() - t0, {}};
  }

 private:
  std::unique_ptr<fnrbench::Echo::Stub> stub_;
  fnrbench::Ping ping_;
  fnrbench::Ping pong_;
};

}  // namespace

struct EchoServer::Service : fnrbench::Echo::CallbackService {
  grpc::ServerBidiReactor<fnrbench::Ping, fnrbench::Ping>* PingPong(
      grpc::CallbackServerContext* /*ctx*/) override {
    return new EchoReactor();
  }
};

std::unique_ptr<EchoServer> EchoServer::start(std::string* error) {
  std::unique_ptr<EchoServer> s(new EchoServer());
  s->service_ = std::make_unique<Service>();
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || port == 0) {
    *error = "cannot start the echo server on 127.0.0.1";
    return nullptr;
  }
  s->address_ = "127.0.0.1:" + std::to_string(port);
  return s;
}

EchoServer::~EchoServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

WorkerFactory pingpong_workers(const Options& options,
                               const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  return [&options, &channels](uint32_t index, std::string*) -> std::unique_ptr<Worker> {
    const auto& channel = channels[index % channels.size()];
    if (options.stream_per_call) {
      return std::make_unique<StreamPerCallWorker>(channel, options.size);
    }
    return std::make_unique<OneStreamWorker>(channel, options.size);
  };
}

}  // namespace fnr::bench
