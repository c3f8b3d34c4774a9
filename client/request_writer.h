#pragma once
// Sends a call's request body as DataFrames on an Engage stream, the way
// Fn's LBs framed it. Internal to the client library.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "client/lb_client.h"
#include "proto/runner.grpc.pb.h"
#include "shared/unique_fd.h"

namespace fnr::client {

struct RequestWriterConfig {
  size_t chunk = 10240;
  bool stale_frames = false;  // April: every frame is the whole read buffer
  std::optional<uint64_t> cancel_after_bytes;
};

struct RequestWriterResult {
  uint64_t bytes_sent = 0;  // body bytes handed to gRPC (stale padding not counted)
  bool eof_sent = false;
  bool cancelled = false;  // cancel_after_bytes fired
  std::string error;       // the body source failed
};

class RequestWriter {
 public:
  using Stream = grpc::ClientReaderWriter<ClientMsg, RunnerMsg>;

  RequestWriter(Stream& stream, grpc::ClientContext& ctx, const BodySource& body,
                RequestWriterConfig config);
  ~RequestWriter();  // joins
  RequestWriter(const RequestWriter&) = delete;
  RequestWriter& operator=(const RequestWriter&) = delete;

  // A memory body that fits in HTTP/2's initial 64 KiB window can never block
  // on flow control, so the caller may send it before it starts reading.
  [[nodiscard]] bool can_write_inline() const;

  // Sends the whole body on this thread.
  void write_inline();
  // Sends the body from a helper thread, so that reading responses on the
  // caller's thread and writing a large or slow body cannot deadlock.
  void start_thread();
  // The response is over: a writer waiting on its source gives up, then
  // the thread is joined. Writes already blocked fail once the stream is
  // done, which it is by the time the reader calls this.
  RequestWriterResult stop_and_join();

 private:
  void run();
  // Reads up to `max` bytes of the body into `out` (replacing its contents
  // unless stale frames are kept). 0 at the end; -1 on error or stop.
  ssize_t read_some(std::string& out, size_t max);
  bool send_frame(bool eof);

  Stream& stream_;
  grpc::ClientContext& ctx_;
  const BodySource& body_;
  RequestWriterConfig config_;
  size_t memory_offset_ = 0;
  ClientMsg msg_;  // reused for every frame
  RequestWriterResult result_;
  std::atomic<bool> stop_{false};
  UniqueFd stop_fd_;  // eventfd that wakes a writer blocked polling its source fd
  std::thread thread_;
};

}  // namespace fnr::client
