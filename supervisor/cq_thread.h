#pragma once
// A thread that serves gRPC (grpc_threads of them, 1 by default). It polls
// its own completion queue and runs each finished operation's tag where
// the bytes arrived.
//
// Why not the callback API: gRPC 1.51 serves callbacks from two "nexting"
// threads on a shared queue, and every completion became a futex hand-off
// between them (measured: 14 futex calls and 11 context switches per hot
// call, more than half of the supervisor's CPU per call).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <thread>

namespace fnr {

// What the completion queue hands back: every operation's tag is one.
class CqTag {
 public:
  virtual void proceed(bool ok) = 0;

 protected:
  CqTag() = default;
  ~CqTag() = default;
  CqTag(const CqTag&) = default;
  CqTag& operator=(const CqTag&) = default;
};

class CqThread {
 public:
  // Adds the queue to `builder`: call before BuildAndStart.
  explicit CqThread(grpc::ServerBuilder& builder);
  ~CqThread();
  CqThread(const CqThread&) = delete;
  CqThread& operator=(const CqThread&) = delete;

  [[nodiscard]] grpc::ServerCompletionQueue* cq() const { return cq_.get(); }
  void start();
  // After grpc::Server::Shutdown: delivers what is left, then joins.
  void stop();

 private:
  void run();

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace fnr
