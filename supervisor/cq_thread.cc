#include "supervisor/cq_thread.h"

#include <pthread.h>

namespace fnr {

CqThread::CqThread(grpc::ServerBuilder& builder) : cq_(builder.AddCompletionQueue()) {}

CqThread::~CqThread() { stop(); }

void CqThread::start() {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "grpc-cq");
}

void CqThread::run() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<CqTag*>(tag)->proceed(ok);
}

void CqThread::stop() {
  if (stopped_) return;
  stopped_ = true;
  // A queue must be drained before it is destroyed; without the thread
  // (the server never started), the drain happens here.
  cq_->Shutdown();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    run();
  }
}

}  // namespace fnr
