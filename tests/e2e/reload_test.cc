// SIGHUP reloads the configuration as it was loaded at start (same flags,
// file and environment) and applies what can change live: TLS certificates
// for new connections, the log level and the limits for the next call. A
// configuration that does not load keeps the running one whole, and the
// runner keeps serving. Calls in flight are never dropped.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "tests/e2e/background_call.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"
#include "tests/e2e/runner_harness.h"
#include "tests/e2e/test_calls.h"
#include "tests/e2e/test_certs.h"

namespace fnr::e2e {
namespace {

using client::LbMode;
using std::chrono::seconds;
namespace fs = std::filesystem;

// The reload the runner numbers `n` has been applied (or refused).
bool wait_reloaded(const RunnerHarness& runner, int n) {
  return runner.wait_for_log("configuration reloaded (#" + std::to_string(n) + ")", seconds(10));
}
bool wait_reload_failed(const RunnerHarness& runner, int n) {
  return runner.wait_for_log("configuration reload #" + std::to_string(n) + " failed", seconds(10));
}

bool copy(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  return !ec;
}

TEST(ReloadTest, NewCertificateServesNewConnectionsWhileTheCallInFlightFinishes) {
  RunnerHarness runner;
  const std::string dir = runner.temp_dir();
  // Certificate A from authority "a", certificate B from authority "b";
  // LBs authenticate with a client certificate from "a" throughout.
  ASSERT_TRUE(make_ca(dir, "a")) << "openssl failed";
  ASSERT_TRUE(make_ca(dir, "b"));
  ASSERT_TRUE(make_leaf(dir, "a", "server-a", kServerExtensions));
  ASSERT_TRUE(make_leaf(dir, "b", "server-b", kServerExtensions));
  ASSERT_TRUE(make_leaf(dir, "a", "client", kClientExtensions));
  ASSERT_TRUE(copy(dir + "/server-a.crt", dir + "/server.crt"));
  ASSERT_TRUE(copy(dir + "/server-a.key", dir + "/server.key"));
  runner.enable_tls(TlsSetup{.ca_cert = dir + "/a-ca.crt",
                             .server_cert = dir + "/server.crt",
                             .server_key = dir + "/server.key",
                             .client_cert = dir + "/client.crt",
                             .client_key = dir + "/client.key"});
  ASSERT_TRUE(runner.start());

  // A fresh LB (a new connection, a new handshake) that trusts only `ca`:
  // whether its call gets through says which certificate the runner shows.
  auto served_to_lb_trusting = [&](const std::string& ca) {
    client::LbOptions o;
    o.mode = LbMode::kMay;
    o.deadline = seconds(5);
    o.tls = client::TlsFiles{.ca = dir + "/" + ca + "-ca.crt",
                             .cert = dir + "/client.crt",
                             .key = dir + "/client.key",
                             .server_name = ""};
    auto lb = runner.lb(std::move(o));
    TestCall call;
    call.mode("echo");
    const client::CallOutcome out = lb->engage(call.json(), "which cert?");
    return out.finished_success && out.body == "which cert?";
  };
  EXPECT_TRUE(served_to_lb_trusting("a"));
  EXPECT_FALSE(served_to_lb_trusting("b"));

  auto lb = runner.lb(LbMode::kApril);
  TestCall slow;
  slow.sleep_ms(4000);
  BackgroundCall in_flight(*lb, slow.json(), "across two reloads");
  ASSERT_NE(runner.wait_for_worker(slow.id, seconds(10)), 0) << "call never ran";

  // A key that is not there: the reload is refused, certificate A stays.
  fs::remove(dir + "/server.key");
  runner.signal(SIGHUP);
  ASSERT_TRUE(wait_reload_failed(runner, 1)) << runner.log();
  EXPECT_NE(runner.log().find("cannot read certificate key"), std::string::npos);
  EXPECT_TRUE(served_to_lb_trusting("a"));
  // A key that does not belong to the certificate: refused too.
  ASSERT_TRUE(copy(dir + "/server-b.crt", dir + "/server.crt"));
  ASSERT_TRUE(copy(dir + "/server-a.key", dir + "/server.key"));
  runner.signal(SIGHUP);
  ASSERT_TRUE(wait_reload_failed(runner, 2)) << runner.log();
  EXPECT_NE(runner.log().find("does not belong to certificate"), std::string::npos);
  EXPECT_TRUE(served_to_lb_trusting("a"));

  // Certificate B in place, SIGHUP: new connections get B.
  ASSERT_TRUE(copy(dir + "/server-b.key", dir + "/server.key"));
  runner.signal(SIGHUP);
  ASSERT_TRUE(wait_reloaded(runner, 3)) << runner.log();
  EXPECT_TRUE(served_to_lb_trusting("b"));
  EXPECT_FALSE(served_to_lb_trusting("a"));

  // The call that was in flight over a connection made with A never noticed.
  const client::CallOutcome& out = in_flight.wait();
  EXPECT_TRUE(committed_ack(out, slow.id));
  EXPECT_TRUE(finished_ok(out, slow.id));
  EXPECT_EQ(out.body, "across two reloads");
  lb.reset();  // an idle client would acknowledge the stop's GOAWAY only seconds later
  EXPECT_TRUE(exited_cleanly(runner.stop()));
}

class ReloadConfigFileTest : public ::testing::Test {
 protected:
  void start(const std::string& initial) {
    RunnerOptions o;
    o.log_level = "";  // the file decides
    runner_ = std::make_unique<RunnerHarness>(o);
    config_ = runner_->temp_dir() + "/fn-runner.json";
    ASSERT_TRUE(write_file(config_, initial));
    runner_->add_args({"--config=" + config_});
    ASSERT_TRUE(runner_->start());
  }
  void reload(const std::string& text) {
    ASSERT_TRUE(write_file(config_, text));
    runner_->signal(SIGHUP);
  }
  ::testing::AssertionResult echoes(const std::string& body) const {
    auto lb = runner_->lb(LbMode::kMay);
    TestCall call;
    call.mode("echo");
    const client::CallOutcome out = lb->engage(call.json(), body);
    if (!finished_ok(out, call.id)) return finished_ok(out, call.id);
    if (out.body != body) return ::testing::AssertionFailure() << "body: " << out.body;
    return ::testing::AssertionSuccess();
  }

  std::unique_ptr<RunnerHarness> runner_;
  std::string config_;
};

TEST_F(ReloadConfigFileTest, BadConfigurationKeepsTheRunningOneAndTheRunnerServing) {
  start(R"({"log_level": "info", "max_request_bytes": 100000})");
  ASSERT_TRUE(echoes("before"));

  reload("{ this is not json");
  ASSERT_TRUE(wait_reload_failed(*runner_, 1)) << runner_->log();
  EXPECT_TRUE(runner_->running());
  EXPECT_FALSE(PidWatch(runner_->pid()).exited()) << "the runner exited on a bad reload";
  EXPECT_TRUE(echoes("after a broken file"));

  // Parses, but a value is invalid: nothing of it is applied, not even the
  // valid max_request_bytes beside it.
  reload(R"({"log_level": "loud", "max_request_bytes": 10})");
  ASSERT_TRUE(wait_reload_failed(*runner_, 2)) << runner_->log();
  EXPECT_NE(runner_->log().find("unknown log level \"loud\""), std::string::npos);
  EXPECT_TRUE(echoes("a body longer than ten bytes"));

  // TLS files that do not exist, for a plaintext runner: a listener kind
  // cannot change live, so this is reported as needing a restart.
  reload(R"({"log_level": "info", "tls": {"cert": "/nonexistent/c.pem",
            "key": "/nonexistent/k.pem", "authority": "/nonexistent/ca.pem"}})");
  ASSERT_TRUE(wait_reloaded(*runner_, 3)) << runner_->log();
  EXPECT_NE(runner_->log().find("tls (plaintext <-> TLS) changed but needs a restart"),
            std::string::npos)
      << runner_->log();
  EXPECT_TRUE(echoes("still plaintext"));
  EXPECT_TRUE(exited_cleanly(runner_->stop()));
}

TEST_F(ReloadConfigFileTest, LogLevelAndLimitsApplyToTheNextCall) {
  start(R"({"log_level": "info"})");
  const std::string body(2000, 'x');
  auto lb = runner_->lb(LbMode::kMay);
  TestCall quiet;
  quiet.mode("echo");
  ASSERT_TRUE(finished_ok(lb->engage(quiet.json(), body), quiet.id));
  EXPECT_EQ(runner_->log().find("call " + quiet.id + ": placed on worker"), std::string::npos)
      << "a debug line at log level info";

  // ledger_entries cannot change live: reported, the rest applies.
  reload(R"({"log_level": "debug", "max_request_bytes": 1000, "ledger_entries": 7})");
  ASSERT_TRUE(wait_reloaded(*runner_, 1)) << runner_->log();
  const std::string log = runner_->log();
  EXPECT_NE(log.find("changed: log_level, max_request_bytes"), std::string::npos) << log;
  EXPECT_NE(log.find("ledger_entries changed but needs a restart"), std::string::npos) << log;

  TestCall too_big;
  too_big.mode("echo");
  const client::CallOutcome refused = lb->engage(too_big.json(), body);
  EXPECT_TRUE(failed_with(refused, 413, "413:request body too large"));

  TestCall loud;
  loud.mode("echo");
  const client::CallOutcome out = lb->engage(loud.json(), "small");
  EXPECT_TRUE(finished_ok(out, loud.id));
  EXPECT_TRUE(runner_->wait_for_log("call " + loud.id + ": placed on worker", seconds(5)))
      << "log level debug did not take effect";

  // And back: the limit is lifted for the next call.
  reload(R"({"log_level": "info"})");
  ASSERT_TRUE(wait_reloaded(*runner_, 2)) << runner_->log();
  TestCall fits;
  fits.mode("echo");
  EXPECT_TRUE(finished_ok(lb->engage(fits.json(), body), fits.id));
  lb.reset();  // an idle client would acknowledge the stop's GOAWAY only seconds later
  EXPECT_TRUE(exited_cleanly(runner_->stop()));
}

}  // namespace
}  // namespace fnr::e2e
