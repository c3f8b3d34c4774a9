#pragma once
// Frames (shared/frame.h) over a Unix stream socket on a libuv loop: the
// supervisor keeps one per worker, a worker one towards its supervisor.
// Reads land straight in the decoder's buffer; writes go through a
// StreamWriter (no copy unless the socket is full). queued_bytes() drives
// backpressure: the owner stops producing above the high watermark and
// resumes on on_drain().
#include <uv.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "shared/frame.h"
#include "shared/stream_writer.h"
#include "shared/unique_fd.h"

namespace fnr {

class FrameStream {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // `payload` is valid only during the call.
    virtual void on_frame(FrameType type, std::span<const char> payload) = 0;
    // The peer closed, broke the protocol or the socket failed. Called once;
    // no frame callbacks follow.
    virtual void on_stream_closed(const std::string& reason) = 0;
    // The write queue fell to the low watermark after passing the high one,
    // or emptied after notify_when_empty().
    virtual void on_drain() {}
    // The frames that one read brought have all been delivered: a handler
    // that batches its own output (gRPC writes) sends it now.
    virtual void on_frames_done() {}
  };
  // Handlers must not destroy the FrameStream from inside a callback: call
  // close() and free it later.

  FrameStream(uv_loop_t* loop, UniqueFd fd, Handler* handler);
  ~FrameStream();
  FrameStream(const FrameStream&) = delete;
  FrameStream& operator=(const FrameStream&) = delete;

  void start_reading();
  void stop_reading();
  // False once the stream is closed or the peer stopped reading; the frame
  // is then dropped. A failed write does not close the stream: what the
  // peer sent before is still delivered, then on_stream_closed().
  bool send(FrameType type, std::string_view payload);
  // Writes what this loop turn gathered now (see StreamWriter): for a last
  // frame that nothing will follow in this turn.
  bool flush();
  [[nodiscard]] size_t queued_bytes() const { return writer_.queued(); }
  [[nodiscard]] bool over_high_watermark() const { return writer_.over_high_watermark(); }
  [[nodiscard]] bool open() const { return pipe_ != nullptr && !failed_; }
  // One on_drain() once everything queued is written; check queued_bytes()
  // first, since nothing fires when the queue is already empty.
  void notify_when_empty() { writer_.notify_when_empty(); }
  // Closes the socket; pending writes are dropped. No callbacks follow.
  void close();

 private:
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  void dispatch();
  void fail(const std::string& reason);

  uv_pipe_t* pipe_ = nullptr;  // freed in its close callback
  Handler* handler_;
  StreamWriter writer_;
  FrameDecoder decoder_;
  bool reading_ = false;
  bool failed_ = false;
  bool write_failed_ = false;
  bool dispatching_ = false;
};

}  // namespace fnr
