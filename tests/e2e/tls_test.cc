// mTLS with Fn's FN_NODE_CERT, FN_NODE_CERT_KEY, FN_NODE_CERT_AUTHORITY:
// only LBs presenting a certificate signed by the authority get a call in.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/e2e/test_certs.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;

TEST(TlsTest, OnlyClientsWithATrustedCertificateGetIn) {
  RunnerHarness runner;
  const std::string dir = runner.temp_dir();
  ASSERT_TRUE(make_ca(dir, "fn")) << "openssl failed";
  ASSERT_TRUE(make_leaf(dir, "fn", "server", kServerExtensions));
  ASSERT_TRUE(make_leaf(dir, "fn", "client", kClientExtensions));
  ASSERT_TRUE(make_ca(dir, "rogue"));
  ASSERT_TRUE(make_leaf(dir, "rogue", "rogue-client", kClientExtensions));
  runner.enable_tls(TlsSetup{.ca_cert = dir + "/fn-ca.crt",
                             .server_cert = dir + "/server.crt",
                             .server_key = dir + "/server.key",
                             .client_cert = dir + "/client.crt",
                             .client_key = dir + "/client.key"});
  ASSERT_TRUE(runner.start());

  auto refused = [&](client::LbOptions o, const char* who) {
    SCOPED_TRACE(who);
    o.deadline = std::chrono::seconds(5);
    auto lb = runner.lb(std::move(o));
    ASSERT_TRUE(lb);
    TestCall call;
    call.mode("echo");
    const client::CallOutcome out = lb->engage(call.json(), "secret");
    EXPECT_FALSE(out.acked) << describe(out);
    EXPECT_FALSE(out.finished_success) << describe(out);
    EXPECT_TRUE(out.body.empty()) << describe(out);
    EXPECT_NE(out.grpc_code, 0) << describe(out);
    EXPECT_FALSE(lb->status(seconds(2)).ok);
  };
  client::LbOptions no_cert;
  no_cert.mode = LbMode::kApril;
  no_cert.tls =
      client::TlsFiles{.ca = dir + "/fn-ca.crt", .cert = "", .key = "", .server_name = ""};
  refused(no_cert, "CA but no client certificate");

  client::LbOptions rogue = no_cert;
  rogue.tls->cert = dir + "/rogue-client.crt";
  rogue.tls->key = dir + "/rogue-client.key";
  refused(rogue, "client certificate from another CA");

  client::LbOptions plaintext;
  plaintext.mode = LbMode::kApril;
  refused(plaintext, "plaintext");

  // Nothing of those reached the runner.
  client::RunnerStatusReply s = runner.status();
  ASSERT_TRUE(s.ok) << s.grpc_message;
  EXPECT_EQ(s.requests_received, 0U);

  for (const LbMode mode : {LbMode::kApril, LbMode::kMay}) {
    auto lb = runner.lb(mode);  // presents client.crt
    ASSERT_TRUE(lb);
    TestCall call;
    call.mode("echo");
    const client::CallOutcome out = lb->engage(call.json(), "over mTLS");
    EXPECT_TRUE(committed_ack(out, call.id));
    EXPECT_TRUE(finished_ok(out, call.id));
    EXPECT_EQ(out.body, "over mTLS");
  }
  EXPECT_TRUE(exited_cleanly(runner.stop()));
}

}  // namespace
}  // namespace fnr::e2e
