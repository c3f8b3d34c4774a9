#include "supervisor/engage_stream.h"

namespace fnr {

void EngageStream::request(RunnerProtocol::AsyncService& service, grpc::ServerCompletionQueue* cq) {
  service_ = &service;
  cq_ = cq;
  ctx_.AsyncNotifyWhenDone(&done_op_);
  service.RequestEngage(&ctx_, &stream_, cq, cq, &started_op_);
}

void EngageStream::started(bool ok) {
  if (ok) {
    OnStarted();
  } else {
    // No call, so no done notification either.
    OnNotStarted();
  }
}

void EngageStream::StartRead(ClientMsg* msg) {
  begin_op();
  stream_.Read(msg, &read_op_);
}

void EngageStream::StartWrite(const RunnerMsg* msg, grpc::WriteOptions options) {
  begin_op();
  stream_.Write(*msg, options, &write_op_);
}

void EngageStream::StartWriteAndFinish(const RunnerMsg* msg, grpc::WriteOptions options,
                                       const grpc::Status& status) {
  // As in the callback API, this write has no OnWriteDone: it is over
  // with the call.
  begin_op();
  stream_.WriteAndFinish(*msg, options, status, &finish_op_);
}

void EngageStream::Finish(const grpc::Status& status) {
  begin_op();
  stream_.Finish(status, &finish_op_);
}

void EngageStream::read_done(bool ok) {
  OnReadDone(ok);
  end_op();
}

void EngageStream::write_done(bool ok) {
  OnWriteDone(ok);
  end_op();
}

void EngageStream::finish_done(bool /*ok*/) { end_op(); }

void EngageStream::done(bool /*ok*/) {
  if (ctx_.IsCancelled()) OnCancel();
  end_op();
}

void EngageStream::end_op() {
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) OnDone();
}

}  // namespace fnr
