// A slow LB: the runner must hold the function's output back (backpressure,
// design-notes.md principle 4) and still deliver all of it, then the
// success, once the LB reads. Whether the function and its worker are long
// gone by then must not matter, nor whether the LB is still sending a body
// the function never read.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using std::chrono::seconds;

class BackpressureTest : public RunnerTest {
 protected:
  // One call whose function (TEST_MODE=big) writes `size` bytes of 'x' and
  // exits without reading its input. The LB sends Try (and, unless
  // `late_body`, an empty body), reads the ack, then nothing more until the
  // worker is done; with `late_body` it then sends a body, and reads.
  void slow_lb_call(size_t size, bool late_body) {
    SCOPED_TRACE(std::to_string(size / 1024) + " KiB response" +
                 (late_body ? ", body sent late" : ""));
    // HTTP/2 without BDP probing keeps the stream window at the 64 KiB
    // default, so a few hundred KiB of response back up inside the runner
    // rather than in the client's buffers. One connection per call, so no
    // flow-control state carries over.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    auto stub = RunnerProtocol::NewStub(runner_->channel(args));
    TestCall call;
    call.mode("big");
    call.config["TEST_BYTES"] = std::to_string(size);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(20));
    auto stream = stub->Engage(&ctx);
    ClientMsg msg;
    msg.mutable_try_()->set_models_call_json(call.json());
    ASSERT_TRUE(stream->Write(msg));
    if (!late_body) {
      msg.mutable_data()->set_eof(true);
      ASSERT_TRUE(stream->Write(msg));
      ASSERT_TRUE(stream->WritesDone());
    }
    RunnerMsg in;
    ASSERT_TRUE(stream->Read(&in));
    ASSERT_TRUE(in.has_acknowledged() && in.acknowledged().committed());

    // The function needs no input: it writes its output and exits, and the
    // worker exits once it has handed all of it to the runner's socket.
    const pid_t worker = runner_->worker_of_acked_call(call.id, seconds(5));
    if (worker != 0) PidWatch(worker).wait_exit(seconds(3));
    if (late_body) {
      msg.mutable_data()->set_data(std::string(4096, 'b'));
      msg.mutable_data()->set_eof(true);
      stream->Write(msg);  // may fail if the runner already ended the call
      stream->WritesDone();
    }

    std::string body;
    bool eof = false;
    bool finished = false;
    std::string details;
    while (stream->Read(&in)) {
      if (in.has_data()) {
        body += in.data().data();
        eof = eof || in.data().eof();
      } else if (in.has_finished()) {
        finished = in.finished().success();
        details = in.finished().details();
      }
    }
    const grpc::Status st = stream->Finish();
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    EXPECT_EQ(body.size(), size) << "response truncated";
    EXPECT_EQ(body.find_first_not_of('x'), std::string::npos);
    EXPECT_TRUE(eof);
    EXPECT_TRUE(finished) << "finished: " << details;
    EXPECT_EQ(details, call.id);
    EXPECT_TRUE(runner_->wait_ledger_empty(seconds(5)));
  }
};

// Sizes around what the runner's write watermark (256 KiB) plus a socket
// buffer hold: the worker can hand everything over and exit while the
// runner still holds part of it back.
constexpr size_t kSizesKiB[] = {256, 320, 384};

TEST_F(BackpressureTest, SlowLbGetsTheWholeResponseAndTheSuccess) {
  for (const size_t kib : kSizesKiB) slow_lb_call(kib * 1024, false);
}

TEST_F(BackpressureTest, SlowLbStillSendingItsBodyGetsTheWholeResponse) {
  for (const size_t kib : kSizesKiB) slow_lb_call(kib * 1024, true);
}

}  // namespace
}  // namespace fnr::e2e
