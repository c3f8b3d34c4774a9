#pragma once
// Writes byte ranges to a libuv stream without copying in the common case:
// each write is first tried synchronously (uv_try_write); only what the
// kernel does not take is copied and queued. queued() drives backpressure:
// producers stop above kHighWatermark and resume on the drain callback.
#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace fnr {

class StreamWriter {
 public:
  static constexpr size_t kHighWatermark = 256UL * 1024;
  static constexpr size_t kLowWatermark = 64UL * 1024;

  // `on_drain` runs when the queue falls to the low watermark after passing
  // the high one, or empties after notify_when_empty(). `on_error` gets the
  // libuv error of a failed write.
  StreamWriter(std::function<void()> on_drain, std::function<void(int)> on_error)
      : on_drain_(std::move(on_drain)), on_error_(std::move(on_error)) {}
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;
  ~StreamWriter();

  void attach(uv_stream_t* stream) { stream_ = stream; }
  // Call before the stream is closed: queued writes will complete with
  // UV_ECANCELED and must not reach this object any more.
  void detach();

  // Writes `a` then `b` in order. Returns a libuv error code, 0 on success.
  int write(std::string_view a, std::string_view b = {});
  [[nodiscard]] size_t queued() const { return queued_; }
  [[nodiscard]] bool over_high_watermark() const { return queued_ >= kHighWatermark; }
  void notify_when_empty() { want_empty_ = true; }

 private:
  struct Pending;
  static void on_written(uv_write_t* req, int status);

  uv_stream_t* stream_ = nullptr;
  std::function<void()> on_drain_;
  std::function<void(int)> on_error_;
  size_t queued_ = 0;
  bool want_drain_ = false;
  bool want_empty_ = false;
  // Shared with in-flight requests so they can tell the writer is gone.
  struct Alive {
    StreamWriter* writer;
  };
  std::shared_ptr<Alive> alive_ = std::make_shared<Alive>(Alive{this});
};

}  // namespace fnr
