// The hot 2018 formats `http` and `json` (function-contract.md, "The 2018
// formats over stdin/stdout"), end to end: the real runner runs the static
// test functions fn-test-httpfunc and fn-test-jsonfunc in real containers.
// A call goes to the function's stdin in the format, its answer comes back
// to the LB, one process serves call after call, and a function that breaks
// the contract (garbage, exit mid-call, past its deadline) fails its call
// as specified and is replaced for the next one.
#include <gtest/gtest.h>
#include <strings.h>

#include <chrono>
#include <optional>
#include <string>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/support/test_images.h"

namespace fnr::e2e {
namespace {

struct FormatCase {
  const char* name;  // test name suffix
  const char* format;
  const char* image;
  const char* binary;          // in FNR_BIN_DIR
  const char* log_prefix;      // what the function logs to stderr per request
  const char* invalid_answer;  // the LB's details for garbage on stdout
};

const FormatCase kHttp{"Http",           "http",
                       "e2e/httpfunc:1", "fn-test-httpfunc",
                       "httpfunc",       "502:invalid http response from function"};
const FormatCase kJson{"Json",           "json",
                       "e2e/jsonfunc:1", "fn-test-jsonfunc",
                       "jsonfunc",       "502:invalid json response from function"};

// The first value of response header `name` (any case), nullopt if absent.
std::optional<std::string> header(const client::CallOutcome& out, const std::string& name) {
  for (const auto& [k, v] : out.headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return std::nullopt;
}

class StdioFormatsTest : public RunnerTest {
 protected:
  void SetUp() override {
    RunnerTest::SetUp();
    for (const FormatCase* f : {&kHttp, &kJson}) {
      test_support::import_binary_image(runner_->images_dir(), f->image,
                                        std::string(FNR_BIN_DIR) + "/" + f->binary);
    }
  }

  // A call in `f`'s format. Calls made by one test share the slot key
  // (same config), so the runner routes each to the idle container the
  // previous one left, if any.
  static TestCall call_for(const FormatCase& f) {
    TestCall call;
    call.image = f.image;
    call.format = f.format;
    // The 2018 LB put FN_FORMAT in the config itself.
    call.config["FN_FORMAT"] = f.format;
    return call;
  }

  client::CallOutcome engage(const TestCall& call, const client::BodySource& body = {}) {
    client::CallOptions o;
    // Longer than the call's timeout, so it is the runner's answer we see.
    o.deadline = std::chrono::milliseconds((call.timeout_s + 10) * 1000);
    return runner_->lb()->engage(call.json(), body, o);
  }

  // A plain call succeeds and reports which request of its process it was.
  void expect_served(const TestCall& call, const std::string& served) {
    const auto out = engage(call, "ping");
    ASSERT_TRUE(finished_ok(out, call.id));
    EXPECT_EQ(out.body, "ping");
    EXPECT_EQ(header(out, "X-Served"), served) << describe(out);
  }
};

TEST_F(StdioFormatsTest, HttpCallIsAnHttpRequestOnStdinAndTheResponseGoesBackAsIs) {
  TestCall call = call_for(kHttp);
  call.url = "http://127.0.0.1:8080/r/e2e/func?x=1";
  call.headers["X-Test"] = {"hello"};
  call.headers["Content-Type"] = {"text/plain"};
  const std::string body = "a body\r\nwith two lines\n";

  const auto out = engage(call, body);

  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.status_code, 200);
  EXPECT_EQ(out.body, body);
  // What the function saw (it mirrors each request header as X-Req-*).
  EXPECT_EQ(header(out, "X-Req-Line"), "POST /r/e2e/func?x=1 HTTP/1.1") << describe(out);
  EXPECT_EQ(header(out, "X-Req-Host"), "127.0.0.1:8080");
  EXPECT_EQ(header(out, "X-Req-X-Test"), "hello");
  EXPECT_EQ(header(out, "X-Req-Content-Type"), "text/plain");
  EXPECT_EQ(header(out, "X-Req-Content-Length"), std::to_string(body.size()));
  EXPECT_EQ(header(out, "X-Req-FN_CALL_ID"), call.id);
  EXPECT_EQ(header(out, "X-Req-FN_METHOD"), "POST");
  EXPECT_EQ(header(out, "X-Req-FN_REQUEST_URL"), call.url);
  const auto deadline = header(out, "X-Req-FN_DEADLINE");
  ASSERT_TRUE(deadline.has_value());
  EXPECT_EQ(deadline->back(), 'Z') << *deadline;  // RFC 3339, UTC
  // What the function answered, headers included.
  EXPECT_EQ(header(out, "X-Served"), "1");
  EXPECT_EQ(header(out, "Content-Type"), "text/plain");
}

TEST_F(StdioFormatsTest, HttpBinaryBodyComesBackUnchanged) {
  const TestCall call = call_for(kHttp);
  // Several supervisor frames and pipe reads each way.
  const std::string body = random_bytes(size_t{3} << 20);

  const auto out = engage(call, body);

  ASSERT_TRUE(finished_ok(out, call.id));
  ASSERT_EQ(out.body.size(), body.size());
  EXPECT_TRUE(out.body == body) << "the echoed body differs from what was sent";
}

TEST_F(StdioFormatsTest, JsonCallIsAJsonLineOnStdinAndTheAnswerIsDecoded) {
  TestCall call = call_for(kJson);
  call.headers["X-Test"] = {"hello", "again"};
  call.headers["Content-Type"] = {"text/plain; charset=utf-8"};
  // Everything a JSON string must escape, and UTF-8 beyond ASCII.
  const std::string body =
      "line one\nline \"two\"\ttabbed \\ back\\slash\r\n"
      "\x01\x1f control, caf\xc3\xa9, \xe6\xbc\xa2\xe5\xad\x97, \xf0\x9f\x98\x80 {\"not\": json}\n";

  const auto out = engage(call, body);

  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.status_code, 200);
  EXPECT_EQ(out.body, body);
  EXPECT_EQ(header(out, "X-Call-Id"), call.id) << describe(out);
  EXPECT_EQ(header(out, "X-Method"), "POST");
  EXPECT_EQ(header(out, "X-Request-Url"), call.url);
  EXPECT_EQ(header(out, "X-Content-Type-In"), "text/plain; charset=utf-8");
  EXPECT_EQ(header(out, "X-Req-X-Test"), "hello");
  const auto deadline = header(out, "X-Deadline");
  ASSERT_TRUE(deadline.has_value());
  EXPECT_EQ(deadline->back(), 'Z') << *deadline;
  // The answer's protocol headers, and its content_type as Content-Type.
  EXPECT_EQ(header(out, "X-Served"), "1");
  EXPECT_EQ(header(out, "Content-Type"), "text/plain");
}

TEST_F(StdioFormatsTest, JsonBodyBytesThatAreNotUtf8BecomeReplacementCharacters) {
  const TestCall call = call_for(kJson);
  // A JSON string cannot carry them; Fn's agent (Go) sent U+FFFD instead.
  const auto out = engage(call, std::string("ok \xff\xfe ok"));

  ASSERT_TRUE(finished_ok(out, call.id));
  EXPECT_EQ(out.body, "ok \xef\xbf\xbd\xef\xbf\xbd ok");
}

class StdioFormatTest : public StdioFormatsTest,
                        public ::testing::WithParamInterface<FormatCase> {};

TEST_P(StdioFormatTest, SequentialCallsAreServedByOneProcess) {
  const FormatCase& f = GetParam();
  const TestCall first = call_for(f);
  TestCall second = first;
  second.id = new_call_id();

  expect_served(first, "1");
  expect_served(second, "2");
  // The function's stderr is logged under the call it was serving.
  EXPECT_TRUE(runner_->wait_for_log(
      "call " + second.id + ": function: " + f.log_prefix + ": request 2 " + second.id,
      std::chrono::seconds(5)))
      << runner_->log();
}

TEST_P(StdioFormatTest, GarbageIs502AndTheNextCallGetsAFreshContainer) {
  const FormatCase& f = GetParam();
  TestCall call = call_for(f);
  expect_served(call, "1");

  call.id = new_call_id();
  call.headers["X-Mode"] = {"garbage"};
  const auto out = engage(call, "ping");
  EXPECT_TRUE(failed_with(out, 502, f.invalid_answer));
  EXPECT_EQ(out.details, f.invalid_answer);

  call.id = new_call_id();
  call.headers.erase("X-Mode");
  expect_served(call, "1");
}

TEST_P(StdioFormatTest, ExitMidCallIs502AndTheNextCallGetsAFreshContainer) {
  const FormatCase& f = GetParam();
  TestCall call = call_for(f);
  expect_served(call, "1");

  call.id = new_call_id();
  call.headers["X-Mode"] = {"exit"};
  const auto out = engage(call, "ping");
  EXPECT_TRUE(failed_with(out, 502, "502:function failed"));
  EXPECT_EQ(out.details, "502:function failed");

  call.id = new_call_id();
  call.headers.erase("X-Mode");
  expect_served(call, "1");
}

TEST_P(StdioFormatTest, DeadlineIs504AndTheNextCallGetsAFreshContainer) {
  const FormatCase& f = GetParam();
  TestCall call = call_for(f);
  call.timeout_s = 1;
  expect_served(call, "1");

  call.id = new_call_id();
  call.headers["X-Mode"] = {"sleep"};
  call.headers["X-Sleep-Ms"] = {"60000"};
  const auto started = std::chrono::steady_clock::now();
  const auto out = engage(call, "ping");
  EXPECT_TRUE(failed_with(out, 504, "504:Timed out"));
  EXPECT_EQ(out.details, "504:Timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));

  call.id = new_call_id();
  call.headers.clear();
  expect_served(call, "1");
}

INSTANTIATE_TEST_SUITE_P(StdioFormats, StdioFormatTest, ::testing::Values(kHttp, kJson),
                         [](const ::testing::TestParamInfo<FormatCase>& p) {
                           return std::string(p.param.name);
                         });

}  // namespace
}  // namespace fnr::e2e
