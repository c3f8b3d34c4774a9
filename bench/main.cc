// fn-runner-bench: Engage latency and throughput against a runner, beside
// the gRPC bidi floor of the same machine, so results read as ratios (the
// machines are shared and noisy; absolute figures drift between runs).
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/async_engage.h"
#include "bench/channels.h"
#include "bench/child_server.h"
#include "bench/coldstart.h"
#include "bench/driver.h"
#include "bench/engage_bench.h"
#include "bench/fake_runner.h"
#include "bench/options.h"
#include "bench/pingpong.h"
#include "bench/selftest.h"
#include "bench/uds_pingpong.h"
#include "client/lb_client.h"

namespace fnr::bench {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(5);

std::optional<RunResult> run_pingpong(const Options& o) {
  std::string error;
  std::unique_ptr<EchoServer> in_process;
  std::unique_ptr<ChildServer> child;
  std::string address;
  if (o.pingpong_in_process) {
    in_process = EchoServer::start(&error);
    if (in_process) address = in_process->address();
  } else {
    child = ChildServer::start("echo-server", &error);
    if (child) address = child->address();
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  if (address.empty() ||
      !connect_channels(address, o.channels, kConnectTimeout, &channels, &error)) {
    std::fprintf(stderr, "fn-runner-bench: pingpong: %s\n", error.c_str());
    return std::nullopt;
  }
  return run_workers(o, pingpong_workers(o, channels));
}

std::optional<RunResult> run_engage(const Options& o) {
  std::string error;
  std::unique_ptr<ChildServer> fake;
  std::string target = o.addr;
  if (target == "fake") {
    fake = ChildServer::start("fake-server", &error);
    if (!fake) {
      std::fprintf(stderr, "fn-runner-bench: %s\n", error.c_str());
      return std::nullopt;
    }
    target = fake->address();
  }
  if (o.async_driver) {
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    if (!connect_channels(target, 1, kConnectTimeout, &channels, &error)) {
      std::fprintf(stderr, "fn-runner-bench: %s\n", error.c_str());
      return std::nullopt;
    }
    std::optional<RunResult> r = run_async_engage(o, channels.front(), &error);
    if (!r) std::fprintf(stderr, "fn-runner-bench: %s\n", error.c_str());
    return r;
  }
  std::vector<std::unique_ptr<client::LbClient>> clients;
  for (uint32_t i = 0; i < o.channels; ++i) {
    auto lb = client::LbClient::create({.target = target,
                                        .mode = o.lb,
                                        .tls = o.tls,
                                        // Explicit, so no call pays for parsing its JSON.
                                        .deadline = std::chrono::seconds(o.timeout_s)},
                                       &error);
    if (!lb) {
      std::fprintf(stderr, "fn-runner-bench: %s\n", error.c_str());
      return std::nullopt;
    }
    if (!lb->wait_connected(kConnectTimeout)) {
      std::fprintf(stderr, "fn-runner-bench: cannot connect to the runner at %s\n", target.c_str());
      return std::nullopt;
    }
    clients.push_back(std::move(lb));
  }
  return run_workers(o, engage_workers(o, clients));
}

int serve(Mode mode) {
  std::string error;
  std::unique_ptr<EchoServer> echo;
  std::unique_ptr<FakeRunner> fake;
  std::string address;
  if (mode == Mode::kEchoServer) {
    echo = EchoServer::start(&error);
    if (echo) address = echo->address();
  } else {
    fake = FakeRunner::start(&error);
    if (fake) address = fake->address();
  }
  if (address.empty()) {
    std::fprintf(stderr, "fn-runner-bench: %s\n", error.c_str());
    return 1;
  }
  return serve_until_stdin_closes(address);
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

// One relay and one thread hand-off, each with both sides pinned to one CPU
// and to two, so that neither depends on where the scheduler happened to
// put them. Returns the cross-CPU relay and hand-off p50s.
struct Hops {
  double relay_cross_p50 = 0;
  double handoff_cross_p50 = 0;
  uint64_t errors = 0;
};

Hops run_hops(const Options& o) {
  Hops h;
  const bool cross = can_cross_cpus();
  if (!cross) std::puts("hops: this process may use one CPU only: no cross-CPU figures");
  for (const auto& [name, placement] :
       {std::pair{"same_cpu", Placement::kSameCpu}, std::pair{"cross_cpu", Placement::kCrossCpu}}) {
    if (placement == Placement::kCrossCpu && !cross) continue;
    const RunResult uds = run_workers(o, uds_pingpong_workers(o, placement));
    print_result(std::string("uds_") + name, uds);
    const RunResult thread = run_workers(o, thread_pingpong_workers(placement));
    print_result(std::string("thread_") + name, thread);
    h.errors += uds.errors + thread.errors;
    if (placement == Placement::kCrossCpu) {
      h.relay_cross_p50 = uds.percentile_us(50);
      h.handoff_cross_p50 = thread.percentile_us(50);
    }
  }
  return h;
}

// Each part of a hot call's path measured alone, one after the other, then
// the call itself. The scheduler on these 2 vCPUs wakes a partner on the
// other, idle CPU (seen in sched traces of the runner), so the floor uses
// the cross-CPU relay: read floor_p50_us as the least this design costs.
int run_floor(const Options& o) {
  const std::optional<RunResult> pingpong = run_pingpong(o);
  if (!pingpong) return 1;
  print_result("pingpong", *pingpong);
  Options fake_options = o;
  fake_options.addr = "fake";
  const std::optional<RunResult> fake = run_engage(fake_options);
  if (!fake) return 1;
  print_result("fake", *fake);
  Options hop_options = o;
  hop_options.concurrency = 1;
  const Hops hops = run_hops(hop_options);
  const std::optional<RunResult> engage = run_engage(o);
  if (!engage) return 1;
  std::printf("engage_driver: %s\n", o.async_driver ? "async" : "sync");
  print_result("engage", *engage);
  const double floor_p50 = fake->percentile_us(50) + 2 * hops.relay_cross_p50;
  const double pingpong_p50 = pingpong->percentile_us(50);
  std::printf("floor_p50_us: %.1f\n", floor_p50);
  // The supervisor's own hand-offs (gRPC thread -> loop thread and back,
  // which gRPC 1.51's API leaves no way around) on top of the floor.
  std::printf("floor_plus_thread_handoff_p50_us: %.1f\n", floor_p50 + hops.handoff_cross_p50);
  std::printf("ratio_p50: %.2f\n", ratio(engage->percentile_us(50), pingpong_p50));
  std::printf("ratio_floor_p50: %.2f\n", ratio(floor_p50, pingpong_p50));
  std::printf("ratio_engage_to_floor_p50: %.2f\n", ratio(engage->percentile_us(50), floor_p50));
  const bool failed = pingpong->errors + fake->errors + hops.errors + engage->errors > 0;
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace fnr::bench

int main(int argc, char** argv) {
  using namespace fnr::bench;
  const ParsedOptions parsed = parse_options(argc, argv);
  if (parsed.exit_code) return *parsed.exit_code;
  const Options& o = parsed.options;

  if (o.mode == Mode::kSelfTest) return run_selftest();
  if (o.mode == Mode::kEchoServer || o.mode == Mode::kFakeServer) return serve(o.mode);
  if (o.mode == Mode::kColdStart) return run_coldstart(o);
  if (o.mode == Mode::kFloor) return run_floor(o);
  if (o.mode == Mode::kUdsPingPong) return run_hops(o).errors > 0 ? 1 : 0;

  std::optional<RunResult> pingpong;
  std::optional<RunResult> engage;
  if (o.mode == Mode::kPingPong || o.mode == Mode::kBoth) {
    pingpong = run_pingpong(o);
    if (!pingpong) return 1;
    print_result("pingpong", *pingpong);
  }
  if (o.mode == Mode::kEngage || o.mode == Mode::kBoth) {
    engage = run_engage(o);
    if (!engage) return 1;
    std::printf("engage_lb: %s\n", fnr::client::lb_mode_name(o.lb).data());
    std::printf("engage_driver: %s\n", o.async_driver ? "async" : "sync");
    std::printf("engage_size: %zu\n", o.size);
    print_result("engage", *engage);
  }
  if (pingpong && engage) {
    std::printf("ratio_p50: %.2f\n", ratio(engage->percentile_us(50), pingpong->percentile_us(50)));
    std::printf("ratio_p99: %.2f\n", ratio(engage->percentile_us(99), pingpong->percentile_us(99)));
    std::printf("ratio_calls_per_s: %.3f\n", ratio(engage->calls_per_s(), pingpong->calls_per_s()));
  }
  const bool failed = (pingpong && pingpong->errors > 0) || (engage && engage->errors > 0);
  return failed ? 1 : 0;
}
