#pragma once
// The floor: a minimal bidi echo over loopback gRPC, on the same library,
// threads and API style as the Engage bench, so the ratio between the two
// is the cost of the runner's work rather than of gRPC.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "bench/driver.h"
#include "bench/options.h"

namespace fnr::bench {

// An in-process echo server on 127.0.0.1 with an ephemeral port, on gRPC's
// callback API (the runner's API style).
class EchoServer {
 public:
  static std::unique_ptr<EchoServer> start(std::string* error);
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  [[nodiscard]] const std::string& address() const { return address_; }

 private:
  EchoServer() = default;
  struct Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// Workers that each keep one echo stream (or, with --stream-per-call, open
// one per round trip) on channels[index % channels.size()].
WorkerFactory pingpong_workers(const Options& options,
                               const std::vector<std::shared_ptr<grpc::Channel>>& channels);

}  // namespace fnr::bench
