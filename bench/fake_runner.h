#pragma once
// An in-process stand-in for a runner: speaks RunnerProtocol generation A
// with no capacity, workers or functions behind it. It gives the bench the
// floor of the Engage message pattern itself (--addr fake) and the
// self-test scripted misbehaviour to check the LB client's reading of it.
//
// Behaviour by the call's image:
//   fake/nack        NACK, then gRPC status 503
//   fake/busy        ack, finished{false, "503:fake runner busy"}
//   fake/timeout     ack, finished{false, "504:Timed out"}
//   fake/grpc-busy   ack, then gRPC status 503 without finished
//   fake/abort       ack, result_start, then gRPC INTERNAL without finished
//   fake/no-ack      result_start first (no ack), body "hi", finished
//   fake/late-error  echo, but end the stream INTERNAL after finished
//   fake/slow        ack, result_start, 10 bytes, then nothing until cancelled
//   fake/created     echo with status 201
//   anything else    echo: ack, then result_start 200 and the request body
//                    back frame by frame as it arrives, eof, finished
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>

namespace fnr::bench {

class FakeRunner {
 public:
  static std::unique_ptr<FakeRunner> start(std::string* error);
  ~FakeRunner();
  FakeRunner(const FakeRunner&) = delete;
  FakeRunner& operator=(const FakeRunner&) = delete;
  [[nodiscard]] const std::string& address() const { return address_; }

  struct Counters {
    std::atomic<int32_t> active{0};
    std::atomic<uint64_t> received{0};
    std::atomic<uint64_t> handled{0};
  };

 private:
  FakeRunner() = default;
  struct Service;
  Counters counters_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace fnr::bench
