#include "shared/frame_stream.h"

#include <cstring>
#include <stdexcept>

#include "shared/uv_handles.h"

namespace fnr {

FrameStream::FrameStream(uv_loop_t* loop, UniqueFd fd, Handler* handler)
    : handler_(handler),
      writer_([this] { handler_->on_drain(); }, [this](int /*err*/) { write_failed_ = true; }) {
  pipe_ = open_pipe_handle(loop, std::move(fd), this);
  writer_.attach(as_stream(pipe_));
}

FrameStream::~FrameStream() { close(); }

void FrameStream::close() {
  if (pipe_ == nullptr) return;
  writer_.detach();
  close_and_free(pipe_);
  failed_ = true;
}

void FrameStream::start_reading() {
  if (!open() || reading_) return;
  reading_ = true;
  if (int rc = uv_read_start(as_stream(pipe_), on_alloc, on_read); rc != 0) {
    fail(std::string("uv_read_start: ") + uv_strerror(rc));
    return;
  }
  // Frames that arrived while we were paused are already buffered; the
  // socket may stay quiet, so deliver them now.
  dispatch();
}

void FrameStream::stop_reading() {
  if (!open() || !reading_) return;
  reading_ = false;
  uv_read_stop(as_stream(pipe_));
}

void FrameStream::on_alloc(uv_handle_t* h, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<FrameStream*>(h->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  std::span<char> area = self->decoder_.write_area();
  *buf = uv_buf_init(area.data(), static_cast<unsigned>(area.size()));
}

void FrameStream::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* /*buf*/) {
  auto* self = static_cast<FrameStream*>(s->data);
  if (self == nullptr || n == 0) return;
  if (n < 0) {
    self->fail(n == UV_EOF ? "peer closed the stream"
                           : std::string("read: ") + uv_strerror(static_cast<int>(n)));
    return;
  }
  self->decoder_.commit(static_cast<size_t>(n));
  self->dispatch();
}

void FrameStream::dispatch() {
  // A handler may stop reading or close us from inside on_frame; honour it
  // between frames so backpressure takes effect at once. A nested call (from
  // start_reading() inside on_frame) leaves the work to the outer loop.
  if (dispatching_) return;
  dispatching_ = true;
  Frame frame{};
  bool delivered = false;
  while (open() && reading_) {
    const FrameDecoder::Status st = decoder_.next(frame);
    if (st == FrameDecoder::Status::kNeedMore) break;
    if (st == FrameDecoder::Status::kError) {
      dispatching_ = false;
      fail("protocol violation: " + decoder_.error());
      return;
    }
    handler_->on_frame(frame.type, frame.payload);
    delivered = true;
  }
  dispatching_ = false;
  if (delivered) handler_->on_frames_done();
}

bool FrameStream::send(FrameType type, std::string_view payload) {
  if (!open() || write_failed_) return false;
  const FrameHeader header = encode_frame_header(type, static_cast<uint32_t>(payload.size()));
  if (writer_.write(std::string_view(header.data(), header.size()), payload) != 0) {
    // The peer stopped reading (it exited, say). What it sent before is
    // still ours to read, so the stream stays open until the read side
    // reaches its end; only writes stop here.
    write_failed_ = true;
  }
  return !write_failed_;
}

bool FrameStream::flush() {
  if (!open() || write_failed_) return false;
  if (writer_.flush() != 0) write_failed_ = true;
  return !write_failed_;
}

void FrameStream::fail(const std::string& reason) {
  if (failed_) return;
  failed_ = true;
  if (pipe_ != nullptr && reading_) uv_read_stop(as_stream(pipe_));
  reading_ = false;
  handler_->on_stream_closed(reason);
}

}  // namespace fnr
