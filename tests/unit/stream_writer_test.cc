// StreamWriter over a real socketpair on a real libuv loop: small writes
// gather until the loop turn ends, large ones leave at once, and the drain
// callback fires however the bytes were queued.
#include "shared/stream_writer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "shared/uv_handles.h"

namespace fnr {
namespace {

class StreamWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer_.reset(fds[1]);
    pipe_ = open_pipe_handle(&loop_, UniqueFd(fds[0]), nullptr);
    writer_.attach(as_stream(pipe_));
  }
  void TearDown() override {
    writer_.detach();
    close_and_free(pipe_);
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  // What the peer can read now, without waiting.
  std::string peer_read_now() {
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(peer_.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  uv_loop_t loop_{};
  UniqueFd peer_;
  uv_pipe_t* pipe_ = nullptr;
  int drains_ = 0;
  int errors_ = 0;
  StreamWriter writer_{[this] { ++drains_; }, [this](int) { ++errors_; }};
};

TEST_F(StreamWriterTest, SmallWritesLeaveTogetherWhenTheTurnEnds) {
  ASSERT_EQ(writer_.write("head", "er"), 0);
  ASSERT_EQ(writer_.write("body"), 0);
  ASSERT_EQ(writer_.write("", "tail"), 0);
  EXPECT_EQ(writer_.queued(), 14U);
  EXPECT_EQ(peer_read_now(), "") << "gathered bytes must wait for the end of the loop turn";
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(peer_read_now(), "headerbodytail");
  EXPECT_EQ(writer_.queued(), 0U);
  EXPECT_EQ(errors_, 0);
}

TEST_F(StreamWriterTest, LargeWriteLeavesAtOnceAfterWhatWasGathered) {
  const std::string big(StreamWriter::kGatherBelow, 'x');
  ASSERT_EQ(writer_.write("first"), 0);
  ASSERT_EQ(writer_.write(big), 0);
  EXPECT_EQ(peer_read_now(), "first" + big) << "order must hold across the two paths";
}

TEST_F(StreamWriterTest, FlushSendsGatheredBytesNow) {
  ASSERT_EQ(writer_.write("now"), 0);
  ASSERT_EQ(writer_.flush(), 0);
  EXPECT_EQ(peer_read_now(), "now");
}

TEST_F(StreamWriterTest, NotifyWhenEmptyFiresForGatheredBytes) {
  ASSERT_EQ(writer_.write("bye"), 0);
  writer_.notify_when_empty();
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(drains_, 1);
  EXPECT_EQ(peer_read_now(), "bye");
}

// A producer of small chunks that stops at the high watermark must be
// woken again, whether the bytes sat gathered or queued in libuv.
TEST_F(StreamWriterTest, SmallChunksPastTheHighWatermarkGetADrain) {
  const std::string chunk(size_t{10} * 1024, 'c');
  size_t sent = 0;
  while (!writer_.over_high_watermark()) {
    ASSERT_EQ(writer_.write(chunk), 0);
    sent += chunk.size();
  }
  size_t received = 0;
  // The peer reads; the loop runs until the writer says it drained.
  for (int turns = 0; drains_ == 0 && turns < 100000; ++turns) {
    received += peer_read_now().size();
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  EXPECT_EQ(drains_, 1);
  EXPECT_LE(writer_.queued(), StreamWriter::kLowWatermark);
  uv_run(&loop_, UV_RUN_NOWAIT);
  received += peer_read_now().size();
  while (writer_.queued() > 0) {
    uv_run(&loop_, UV_RUN_NOWAIT);
    received += peer_read_now().size();
  }
  EXPECT_EQ(received, sent);
}

TEST_F(StreamWriterTest, DetachStillTriesGatheredBytes) {
  ASSERT_EQ(writer_.write("last words"), 0);
  writer_.detach();
  EXPECT_EQ(peer_read_now(), "last words");
}

}  // namespace
}  // namespace fnr
