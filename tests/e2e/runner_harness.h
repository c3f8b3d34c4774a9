#pragma once
// Runs the real fn-runner binary for an end-to-end test: a private temp dir
// (images, log, TLS files), a free loopback port, a unique ledger name, the
// runner's stderr in <tmp>/runner.log. Readiness is a Status RPC that gets
// through, never a fixed sleep. The test then talks to it over real gRPC
// with the LB emulator (client/lb_client.h) or the raw generated stub.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/lb_client.h"
#include "proto/runner.grpc.pb.h"
#include "shared/ledger.h"
#include "tests/e2e/process_watch.h"

namespace fnr::e2e {

struct TlsSetup {
  std::string ca_cert;  // PEM of the authority that signed both certs
  std::string server_cert, server_key;
  std::string client_cert, client_key;
};

struct RunnerOptions {
  std::optional<uint64_t> max_total_memory_bytes;
  uint32_t drain_timeout_s = 10;
  // --log-level; "" passes none (the config file or env then decides).
  std::string log_level = "debug";
  // FN_NODE_CERT* for the runner; the harness's own clients then present
  // the client certificate.
  std::optional<TlsSetup> tls;
  std::vector<std::string> extra_args;
  // NAME=VALUE added to the runner's otherwise clean environment.
  std::vector<std::string> extra_env;
};

class RunnerHarness {
 public:
  // Creates the temp dir and the image store holding kTestImage; start()
  // runs the runner.
  explicit RunnerHarness(RunnerOptions options = {});
  ~RunnerHarness();  // SIGKILLs a runner still running, removes the temp dir
  RunnerHarness(const RunnerHarness&) = delete;
  RunnerHarness& operator=(const RunnerHarness&) = delete;

  // Serve mTLS with these files (made in temp_dir(), say); before start().
  void enable_tls(TlsSetup tls) { options_.tls = std::move(tls); }
  // More runner flags (say --config=<a file in temp_dir()>); before start().
  void add_args(const std::vector<std::string>& args) {
    options_.extra_args.insert(options_.extra_args.end(), args.begin(), args.end());
  }
  // Spawns fn-runner and waits until its Status RPC answers.
  ::testing::AssertionResult start();
  // SIGTERM, then waits for the exit; the wait status, nullopt on timeout.
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for the runner to exit by itself (after a signal the test sent).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  void signal(int sig) const;
  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] pid_t pid() const { return pid_; }

  [[nodiscard]] const std::string& temp_dir() const { return temp_dir_; }
  [[nodiscard]] const std::string& images_dir() const { return images_dir_; }
  [[nodiscard]] const std::string& ledger_name() const { return ledger_name_; }
  [[nodiscard]] const std::string& target() const { return target_; }
  [[nodiscard]] std::string log_path() const { return temp_dir_ + "/runner.log"; }
  // The runner's control socket (default sandbox.runtime_dir).
  [[nodiscard]] std::string control_socket() const {
    return "/run/fn-runner/" + ledger_name_ + ".ctl";
  }
  [[nodiscard]] std::string log() const;
  // Waits until the runner's log contains `needle`.
  bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) const;

  // Imports fn-test-func (an OCI image: busybox plus the static binary at
  // /function/fn-test-func) into the runner's image store as `ref`.
  void add_image(const std::string& ref) const;

  // An LB emulator connected to this runner (over mTLS when it serves TLS).
  std::unique_ptr<client::LbClient> lb(client::LbMode mode = client::LbMode::kMay) const;
  std::unique_ptr<client::LbClient> lb(client::LbOptions options) const;
  // An echo call from a fresh LB of `mode` with a 5 s deadline: what a
  // caller arriving while the runner drains sees.
  client::CallOutcome late_echo_call(client::LbMode mode, const std::string& body) const;
  [[nodiscard]] std::optional<client::TlsFiles> client_tls() const;
  // A fresh channel and generated stub, for tests that drive the stream by hand.
  [[nodiscard]] std::shared_ptr<grpc::Channel> channel(
      grpc::ChannelArguments args = grpc::ChannelArguments()) const;
  [[nodiscard]] std::unique_ptr<RunnerProtocol::Stub> stub() const;

  client::RunnerStatusReply status() const;

  // The capacity ledger as other processes see it.
  [[nodiscard]] LedgerSnapshot ledger() const;
  [[nodiscard]] std::optional<ReservationView> reservation(const std::string& call_id) const;
  // Waits until the ledger says a worker runs `call_id`; its pid, or 0.
  pid_t wait_for_worker(const std::string& call_id, std::chrono::milliseconds timeout) const;
  // The same, for a call already acked: 0 as soon as its reservation is
  // gone (the call ended before we saw its worker).
  pid_t worker_of_acked_call(const std::string& call_id, std::chrono::milliseconds timeout) const;
  // Waits until the worker has forked the function; its pid, or 0.
  static pid_t wait_for_function(pid_t worker, std::chrono::milliseconds timeout);
  // Waits until nothing is reserved; false (with the leftovers logged) if
  // something still is at the timeout.
  bool wait_ledger_empty(std::chrono::milliseconds timeout) const;

 private:
  ::testing::AssertionResult spawn_once(int port);
  ::testing::AssertionResult wait_ready();

  RunnerOptions options_;
  std::string temp_dir_;
  std::string images_dir_;
  std::string ledger_name_;
  std::string target_;
  pid_t pid_ = 0;
  std::unique_ptr<PidWatch> watch_;
  std::unique_ptr<Ledger> ledger_;
  mutable std::unique_ptr<client::LbClient> status_client_;
};

// A test fixture with one runner, started in SetUp and stopped (expecting
// a clean exit) in TearDown. Override runner_options() to configure it.
class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  virtual RunnerOptions runner_options() { return {}; }

  std::unique_ptr<RunnerHarness> runner_;
};

// Expects a clean exit: status 0.
::testing::AssertionResult exited_cleanly(const std::optional<int>& wait_status);

}  // namespace fnr::e2e
