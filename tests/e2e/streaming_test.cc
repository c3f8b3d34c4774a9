// Bytes reach the function as they arrive and its output comes back while
// it still runs: the first line's echo is read before the second line is
// even sent (runner-protocol.md step 3: "not after EOF").
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"

namespace fnr::e2e {
namespace {

using StreamingTest = RunnerTest;

ClientMsg data_msg(const std::string& bytes, bool eof) {
  ClientMsg m;
  m.mutable_data()->set_data(bytes);
  m.mutable_data()->set_eof(eof);
  return m;
}

TEST_F(StreamingTest, FunctionOutputFlowsBeforeRequestEof) {
  auto stub = runner_->stub();
  TestCall call;
  call.mode("lines");
  grpc::ClientContext ctx;
  // Bounds the test if the runner buffers until EOF: the reads below then
  // fail at the deadline instead of hanging.
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->Engage(&ctx);

  ClientMsg try_msg;
  try_msg.mutable_try_()->set_models_call_json(call.json());
  ASSERT_TRUE(stream->Write(try_msg));
  RunnerMsg msg;
  ASSERT_TRUE(stream->Read(&msg));
  ASSERT_EQ(msg.body_case(), RunnerMsg::kAcknowledged);
  ASSERT_TRUE(msg.acknowledged().committed()) << msg.acknowledged().details();

  ASSERT_TRUE(stream->Write(data_msg("one\n", false)));
  std::string body;
  bool result_started = false;
  while (body.find("one\n") == std::string::npos) {
    ASSERT_TRUE(stream->Read(&msg)) << "stream ended before the first line came back; body so far '"
                                    << body << "': " << stream->Finish().error_message();
    ASSERT_NE(msg.body_case(), RunnerMsg::kFinished)
        << "call finished before the request eof: " << msg.finished().details();
    if (msg.body_case() == RunnerMsg::kResultStart) {
      ASSERT_FALSE(result_started) << "second result_start";
      result_started = true;
      EXPECT_EQ(msg.result_start().http().status_code(), 200);
    } else if (msg.body_case() == RunnerMsg::kData) {
      ASSERT_TRUE(result_started) << "data before result_start";
      ASSERT_FALSE(msg.data().eof()) << "response eof before the request eof";
      body += msg.data().data();
    }
  }
  EXPECT_EQ(body, "one\n");

  ASSERT_TRUE(stream->Write(data_msg("two\n", true)));
  ASSERT_TRUE(stream->WritesDone());
  bool saw_eof = false;
  bool finished = false;
  while (stream->Read(&msg)) {
    ASSERT_FALSE(finished) << "message after finished";
    if (msg.body_case() == RunnerMsg::kData) {
      ASSERT_FALSE(saw_eof) << "data after the eof frame";
      body += msg.data().data();
      saw_eof = msg.data().eof();
    } else if (msg.body_case() == RunnerMsg::kFinished) {
      finished = true;
      EXPECT_TRUE(msg.finished().success()) << msg.finished().details();
      EXPECT_EQ(msg.finished().details(), call.id);
    } else {
      ADD_FAILURE() << "unexpected message " << msg.body_case();
    }
  }
  const grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_TRUE(saw_eof);
  EXPECT_TRUE(finished);
  EXPECT_EQ(body, "one\ntwo\n");
}

}  // namespace
}  // namespace fnr::e2e
