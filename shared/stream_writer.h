#pragma once
// Writes byte ranges to a libuv stream with as few syscalls and copies as
// the sizes allow:
//  - small writes made during one loop turn are gathered and leave in one
//    write at the end of the turn (uv_check), so a frame burst such as
//    result start + data + finished costs the peer one wake-up, not three;
//  - large writes go straight out with uv_try_write, without a copy;
//  - only what the kernel does not take is copied and queued.
// queued() drives backpressure: producers stop above kHighWatermark and
// resume on the drain callback.
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
  // Writes below this size are gathered; copying them costs less than a
  // syscall and a wake-up of the reader.
  static constexpr size_t kGatherBelow = 16UL * 1024;

  // `on_drain` runs when the queue falls to the low watermark after passing
  // the high one, or empties after notify_when_empty(). `on_error` gets the
  // libuv error of a failed write.
  StreamWriter(std::function<void()> on_drain, std::function<void(int)> on_error)
      : on_drain_(std::move(on_drain)), on_error_(std::move(on_error)) {}
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;
  ~StreamWriter();

  void attach(uv_stream_t* stream);
  // Call before the stream is closed: what is gathered is tried once more,
  // queued writes will complete with UV_ECANCELED and must not reach this
  // object any more.
  void detach();

  // Writes `a` then `b` in order. Returns a libuv error code, 0 on success;
  // a gathered write's error reaches `on_error` at the end of the turn.
  int write(std::string_view a, std::string_view b = {});
  // Sends what is gathered now rather than at the end of the loop turn.
  int flush();
  [[nodiscard]] size_t queued() const { return queued_ + gathered_.size(); }
  [[nodiscard]] bool over_high_watermark() const { return queued() >= kHighWatermark; }
  void notify_when_empty() { want_empty_ = true; }

 private:
  struct Pending;
  static void on_written(uv_write_t* req, int status);
  int write_now(std::string_view a, std::string_view b);
  void arm_flush();
  void flush_at_turn_end();
  void check_drain();

  uv_stream_t* stream_ = nullptr;
  std::function<void()> on_drain_;
  std::function<void(int)> on_error_;
  size_t queued_ = 0;
  bool want_drain_ = false;
  bool want_empty_ = false;
  std::string gathered_;
  // The check handle flushes after this turn's I/O callbacks; the idle one,
  // active only while something is gathered, keeps the loop from blocking
  // in poll before that (a write made from a timer callback, say).
  uv_check_t* flush_check_ = nullptr;
  uv_idle_t* flush_idle_ = nullptr;
  // Shared with in-flight requests so they can tell the writer is gone.
  struct Alive {
    StreamWriter* writer;
  };
  std::shared_ptr<Alive> alive_ = std::make_shared<Alive>(Alive{this});
};

}  // namespace fnr
