// fn-runner-chaos: the real runner (sandbox on) under faults. N calls over
// real gRPC at some concurrency, mixing the four formats (default: a fresh
// container per call; http-stream, http, json: hot containers under three
// slot keys each), short sleeps so that faults land mid-call, and bodies
// echoed back. Meanwhile a fault injector SIGKILLs workers and functions and
// cancels calls in flight, and some calls are cancelled at planned points
// (after the ack, at result_start, half-way through the request body).
//
// Then: every call must have ended in a well-formed way (finished with a
// code, a NACK, or CANCELLED for ours; no hang, no protocol deviation);
// once the idle containers are reaped the ledger must be empty, and no
// worker (but the spares), function, cgroup, mount, socket file or scratch
// dir left, and the supervisor's fds back at their baseline. Then SIGTERM
// comes while calls run and faults go on: those calls must still end
// well-formed, later ones be refused, the runner exit 0 and leave nothing
// at all. Exit 0 only then; else
// 1 with the list of what was wrong. 77: skipped (not root).
//
// Flags (--name=value): calls (500), concurrency (8), seed (random; printed),
// capacity-mib (1024), idle-timeout (2 s), fault-gap-min-ms (20),
// fault-gap-max-ms (150), planned-cancel-pct (8), settle-timeout (60 s),
// drain-calls (16: calls in flight when SIGTERM comes, faults continuing).
// FNR_E2E_KEEP_TMP=1 keeps the runner's temp dir (runner.log).
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "client/lb_client.h"
#include "tests/chaos/chaos_runner.h"
#include "tests/chaos/fault_injector.h"
#include "tests/chaos/flags.h"
#include "tests/chaos/leak_check.h"
#include "tests/chaos/process_tree.h"
#include "tests/chaos/program.h"
#include "tests/e2e/outcome_checks.h"
#include "tests/e2e/process_watch.h"

namespace fnr::chaos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kCallMib = 64;
constexpr int kCallTimeoutS = 10;
// Longer than the call's timeout, so a call the runner forgets is seen as
// DEADLINE_EXCEEDED (a hang) rather than waited for forever.
constexpr milliseconds kClientDeadline{(kCallTimeoutS + 10) * 1000};

struct Settings {
  uint64_t calls = 500;
  uint64_t concurrency = 8;
  uint64_t seed = 0;
  uint64_t capacity_mib = 1024;
  uint32_t idle_timeout_s = 2;
  FaultMix mix;
  uint64_t planned_cancel_pct = 8;
  seconds settle_timeout{60};
  uint64_t drain_calls = 16;
};

enum class PlannedCancel { kNone, kAfterAck, kAtResultStart, kMidRequest };
const char* planned_cancel_name(PlannedCancel p) {
  switch (p) {
    case PlannedCancel::kNone:
      return "none";
    case PlannedCancel::kAfterAck:
      return "after ack";
    case PlannedCancel::kAtResultStart:
      return "at result_start";
    case PlannedCancel::kMidRequest:
      return "mid request body";
  }
  return "?";
}

struct CallRecord {
  CallPlan plan;
  PlannedCancel cancel = PlannedCancel::kNone;
  client::LbMode mode = client::LbMode::kMay;
  Judgement judgement;
  milliseconds latency{0};
};

// Everything about call `index` follows from the seed and the index alone,
// so a run's calls are the same whatever the thread timing.
CallRecord plan_call(const Settings& s, const std::string& marker, uint64_t index) {
  std::mt19937_64 rng(s.seed * 1000003 + index);
  CallRecord r;
  const Format format = kAllFormats[rng() % std::size(kAllFormats)];
  const int sleep_ms = rng() % 2 == 0 ? 0 : 50 + static_cast<int>(rng() % 550);
  // Mostly small bodies; one call in 20 streams 256 KiB to 2 MiB each way,
  // so that faults also land mid-stream, with backpressure at work.
  const uint64_t size_class = rng() % 20;
  const size_t body = size_class == 0  ? (size_t{256} << 10) + rng() % (size_t{1792} << 10)
                      : size_class < 5 ? 0
                                       : 1 + rng() % (size_t{16} << 10);
  r.plan = make_call(format, marker, static_cast<int>(rng() % 3), sleep_ms, text_body(rng, body),
                     s.idle_timeout_s, kCallTimeoutS, kCallMib);
  r.mode = rng() % 2 == 0 ? client::LbMode::kApril : client::LbMode::kMay;
  if (rng() % 100 < s.planned_cancel_pct) {
    r.cancel = static_cast<PlannedCancel>(1 + rng() % 3);
    if (r.cancel == PlannedCancel::kMidRequest && r.plan.body.size() < 2) {
      r.cancel = PlannedCancel::kAfterAck;
    }
  }
  return r;
}

void run_call(client::LbClient& lb, InFlight& in_flight, CallRecord& r) {
  client::CallCanceller canceller;
  client::CallOptions o;
  o.deadline = kClientDeadline;
  o.canceller = &canceller;
  switch (r.cancel) {
    case PlannedCancel::kNone:
      break;
    case PlannedCancel::kAfterAck:
      o.cancel_after_ack = true;
      break;
    case PlannedCancel::kAtResultStart:
      o.cancel_after_response_bytes = 0;
      break;
    case PlannedCancel::kMidRequest:
      o.cancel_after_request_bytes = r.plan.body.size() / 2;
      break;
  }
  in_flight.add(&canceller);
  const auto t0 = Clock::now();
  const client::CallOutcome out = lb.engage(r.plan.json, r.plan.body, o);
  r.latency = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  in_flight.remove(&canceller);
  r.judgement = judge(r.plan, out);
}

// Polls `leaks` until it finds none or `timeout` passes; the last findings.
std::vector<std::string> settle(const std::function<std::vector<std::string>()>& leaks,
                                milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<std::string> found = leaks();
    if (found.empty() || Clock::now() >= deadline) return found;
    std::this_thread::sleep_for(milliseconds(100));  // polling: no event for "nothing left"
  }
}

// The stop, under load and faults: `drain-calls` calls that sleep 0.3 to
// 1.5 s are running when SIGTERM comes, the injector keeps killing and
// cancelling; every one of them must still end well-formed, calls that
// come after the SIGTERM must be refused promptly, and
// the runner must exit 0 within its drain timeout plus the kill grace.
void drain_under_faults(ChaosRunner& runner, client::LbClient& lb, const Settings& s,
                        std::vector<std::string>& failures) {
  std::vector<CallRecord> calls(s.drain_calls);
  for (uint64_t i = 0; i < s.drain_calls; ++i) {
    std::mt19937_64 rng(s.seed * 7919 + i);
    calls[i].plan =
        make_call(kAllFormats[i % std::size(kAllFormats)], runner.marker(), static_cast<int>(i % 3),
                  300 + static_cast<int>(rng() % 1200), text_body(rng, 1 + rng() % 4096),
                  s.idle_timeout_s, kCallTimeoutS, kCallMib);
  }
  InFlight in_flight;
  FaultInjector injector(runner.pid(), s.seed + 1, s.mix, in_flight);
  injector.start();
  std::vector<std::thread> threads;
  threads.reserve(calls.size());
  for (CallRecord& r : calls) threads.emplace_back([&] { run_call(lb, in_flight, r); });
  // SIGTERM once most of them run (or after a bound: then fewer are caught).
  const auto running = [&] {
    size_t n = 0;
    for (const ReservationView& e : runner.harness().ledger().entries) {
      n += e.state == ReservationState::kRunning ? 1 : 0;
    }
    return n;
  };
  e2e::wait_until([&] { return running() * 2 >= calls.size(); }, seconds(10));
  const size_t caught = running();
  std::optional<int> exit;
  std::thread stopper([&] { exit = runner.harness().stop(seconds(40)); });
  std::vector<client::CallOutcome> late;
  if (runner.harness().wait_for_log("draining:", seconds(10))) {
    for (int i = 0; i < 4; ++i) {
      std::mt19937_64 rng(s.seed + 100 + i);
      const CallPlan p = make_call(Format::kDefault, runner.marker(), 0, 0, text_body(rng, 10),
                                   s.idle_timeout_s, kCallTimeoutS, kCallMib);
      client::CallOptions o;
      o.deadline = kClientDeadline;
      late.push_back(lb.engage(p.json, p.body, o));
    }
  } else {
    failures.emplace_back("drain: the runner never logged that it drains");
  }
  for (std::thread& t : threads) t.join();
  stopper.join();
  injector.stop();
  const FaultCounts f = injector.counts();
  std::map<std::string, int> endings;
  for (const CallRecord& r : calls) {
    ++endings[ending_name(r.judgement.ending)];
    if (r.judgement.ending == Ending::kHung || r.judgement.ending == Ending::kMalformed) {
      failures.push_back("drain: call " + r.plan.id + " " + ending_name(r.judgement.ending) + ": " +
                         r.judgement.why);
    }
  }
  int refused = 0;
  for (const client::CallOutcome& o : late) {
    // As DrainTest has it: not committed, nothing served, a prompt non-OK
    // status (a NACK, or gRPC refusing streams once Shutdown began).
    if (!o.committed && !o.finished_success && o.body.empty() && o.grpc_code > 0 &&
        o.grpc_code != static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED)) {
      ++refused;
    } else {
      failures.push_back("drain: a call after SIGTERM was not refused: " + e2e::describe(o));
    }
  }
  const ::testing::AssertionResult clean = e2e::exited_cleanly(exit);
  if (!clean) failures.push_back(std::string("stop (SIGTERM) under load: ") + clean.message());
  std::printf("drain: SIGTERM with %zu of %zu calls running; endings:", caught, calls.size());
  for (const auto& [name, n] : endings) std::printf(" %s=%d", name.c_str(), n);
  std::printf(
      "; %d of %zu later calls refused; faults meanwhile %llu (worker %llu, function %llu, "
      "cancel %llu)\n",
      refused, late.size(), static_cast<unsigned long long>(f.total()),
      static_cast<unsigned long long>(f.worker_kills_busy) + f.worker_kills_spare,
      static_cast<unsigned long long>(f.function_kills),
      static_cast<unsigned long long>(f.client_cancels));
}

bool supervisor_alive(ChaosRunner& runner) { return ::kill(runner.pid(), 0) == 0; }

std::string log_tail(ChaosRunner& runner, size_t bytes) {
  const std::string log = runner.harness().log();
  return log.size() > bytes ? log.substr(log.size() - bytes) : log;
}

int run(const Settings& s) {
  std::printf("fn-runner-chaos: seed %llu, %llu calls at concurrency %llu, capacity %llu MiB\n",
              static_cast<unsigned long long>(s.seed), static_cast<unsigned long long>(s.calls),
              static_cast<unsigned long long>(s.concurrency),
              static_cast<unsigned long long>(s.capacity_mib));
  std::fflush(stdout);
  ChaosRunnerOptions ro;
  ro.capacity_bytes = s.capacity_mib << 20;
  ChaosRunner runner(ro);
  std::string error;
  if (!runner.start(&error)) {
    std::fprintf(stderr, "FAIL: the runner did not start: %s\n", error.c_str());
    return 1;
  }
  if (runner.cgroup_bases().empty()) {
    std::fprintf(stderr, "FAIL: found no cgroup of the runner instance (cannot check them)\n");
    return 1;
  }
  client::LbOptions april;
  april.mode = client::LbMode::kApril;
  april.tls = runner.harness().client_tls();
  auto lb_april = runner.harness().lb(april);
  auto lb_may = runner.harness().lb(client::LbMode::kMay);
  if (!lb_april || !lb_may) return 1;
  std::vector<std::string> failures;

  // Warm-up without faults: every format and slot once, so the baseline
  // counts what the runner keeps for good (connections, gRPC's own fds).
  InFlight in_flight;
  {
    std::mt19937_64 rng(s.seed);
    for (const Format f : kAllFormats) {
      for (int slot = 0; slot < 3; ++slot) {
        CallRecord r;
        r.plan = make_call(f, runner.marker(), slot, 0, text_body(rng, 100), s.idle_timeout_s,
                           kCallTimeoutS, kCallMib);
        r.mode = slot % 2 == 0 ? client::LbMode::kMay : client::LbMode::kApril;
        // Both clients: each is one HTTP/2 connection the baseline must hold.
        run_call(r.mode == client::LbMode::kApril ? *lb_april : *lb_may, in_flight, r);
        if (r.judgement.ending != Ending::kOk) {
          failures.push_back(std::string("warm-up call (") + format_name(f) +
                             ") failed: " + r.judgement.why);
        }
      }
    }
    (void)runner.harness().status();
  }
  // The warm-up left idle hot containers: the checks must see them, or a
  // clean result below would prove nothing.
  {
    const std::vector<std::string> seen = leaks_while_idle(runner, nullptr);
    for (const char* what : {"ledger holds", "workers with a container", "function processes",
                             "container cgroups", "scratch/socket dirs"}) {
      if (std::none_of(seen.begin(), seen.end(),
                       [&](const std::string& l) { return l.rfind(what, 0) == 0; })) {
        failures.push_back(std::string("self-check: the leak checks do not see the idle "
                                       "containers' ") +
                           what);
      }
    }
  }
  const std::vector<std::string> not_idle =
      settle([&] { return leaks_while_idle(runner, nullptr); }, s.settle_timeout);
  const FdBaseline baseline = fd_baseline(runner.pid());
  std::printf("baseline: supervisor fds %d, RSS %llu KiB, after %zu warm-up calls\n",
              baseline.count, static_cast<unsigned long long>(rss_kib(runner.pid())),
              std::size(kAllFormats) * 3);
  for (const std::string& l : not_idle) failures.push_back("not idle after warm-up: " + l);

  // The chaos.
  std::vector<CallRecord> records(s.calls);
  for (uint64_t i = 0; i < s.calls; ++i) records[i] = plan_call(s, runner.marker(), i);
  FaultInjector injector(runner.pid(), s.seed, s.mix, in_flight);
  const auto t0 = Clock::now();
  injector.start();
  std::atomic<uint64_t> next{0};
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < s.concurrency; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i = next++; i < s.calls; i = next++) {
        CallRecord& r = records[i];
        run_call(r.mode == client::LbMode::kApril ? *lb_april : *lb_may, in_flight, r);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  injector.stop();
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const FaultCounts faults = injector.counts();

  std::map<std::string, int> endings, codes, planned, nack_reasons, failure_details;
  int planned_total = 0;
  for (const CallRecord& r : records) {
    ++endings[ending_name(r.judgement.ending)];
    if (r.judgement.ending == Ending::kFailed) {
      ++codes[r.judgement.why.substr(0, r.judgement.why.find(':'))];
      ++failure_details[r.judgement.why];
    }
    if (r.judgement.ending == Ending::kNacked) ++nack_reasons[r.judgement.why];
    if (r.cancel != PlannedCancel::kNone) {
      ++planned[planned_cancel_name(r.cancel)];
      ++planned_total;
    }
    if (r.judgement.ending == Ending::kHung || r.judgement.ending == Ending::kMalformed) {
      failures.push_back("call " + r.plan.id + " (" + format_name(r.plan.format) + ", " +
                         std::string(client::lb_mode_name(r.mode)) + ", sleep " +
                         std::to_string(r.plan.sleep_ms) + " ms, cancel " +
                         planned_cancel_name(r.cancel) + ", " + std::to_string(r.latency.count()) +
                         " ms) " + ending_name(r.judgement.ending) + ": " + r.judgement.why);
    }
  }

  std::vector<std::string> leaks;
  if (!supervisor_alive(runner)) {
    failures.push_back("the supervisor died during the run");
  } else {
    const auto settle_t0 = Clock::now();
    leaks = settle([&] { return leaks_while_idle(runner, &baseline); }, s.settle_timeout);
    std::printf("settled in %.1f s (idle timeout %u s); supervisor fds %d, RSS %llu KiB\n",
                std::chrono::duration<double>(Clock::now() - settle_t0).count(), s.idle_timeout_s,
                fd_count(runner.pid()), static_cast<unsigned long long>(rss_kib(runner.pid())));
    const client::RunnerStatusReply st = runner.harness().status();
    if (!st.ok || st.active != 0) {
      leaks.push_back("Status: ok=" + std::to_string(st.ok) +
                      " active=" + std::to_string(st.active));
    }
    lb_april.reset();
    drain_under_faults(runner, *lb_may, s, failures);
    lb_may.reset();
    for (const std::string& l : settle([&] { return leaks_after_exit(runner); }, seconds(10))) {
      leaks.push_back("after exit: " + l);
    }
  }
  if (::testing::UnitTest::GetInstance()->ad_hoc_test_result().Failed()) {
    failures.push_back("the harness reported failures (above)");
  }

  std::printf("\n== fn-runner-chaos summary (seed %llu) ==\n",
              static_cast<unsigned long long>(s.seed));
  std::printf("calls: %llu in %.1f s (%.0f/s) at concurrency %llu\n",
              static_cast<unsigned long long>(s.calls), elapsed_s,
              static_cast<double>(s.calls) / std::max(0.001, elapsed_s),
              static_cast<unsigned long long>(s.concurrency));
  std::printf("endings:");
  for (const auto& [name, n] : endings) std::printf(" %s=%d", name.c_str(), n);
  std::printf("\nfailure codes:");
  for (const auto& [code, n] : codes) std::printf(" %s=%d", code.c_str(), n);
  for (const auto& [why, n] : failure_details) std::printf("\n  %4d x %s", n, why.c_str());
  std::printf("\nNACK reasons:");
  for (const auto& [why, n] : nack_reasons) std::printf(" \"%s\"=%d", why.c_str(), n);
  std::printf(
      "\nfaults injected: %llu (worker SIGKILL with container=%llu, worker SIGKILL "
      "without=%llu, function SIGKILL=%llu, client cancel in flight=%llu)\n",
      static_cast<unsigned long long>(faults.total()) + planned_total,
      static_cast<unsigned long long>(faults.worker_kills_busy),
      static_cast<unsigned long long>(faults.worker_kills_spare),
      static_cast<unsigned long long>(faults.function_kills),
      static_cast<unsigned long long>(faults.client_cancels));
  std::printf("planned client cancels: %d (", planned_total);
  bool first = true;
  for (const auto& [name, n] : planned) {
    std::printf("%s%s=%d", first ? "" : ", ", name.c_str(), n);
    first = false;
  }
  std::printf(")\n");
  return print_verdict(leaks, failures, [&runner] {
    return "---- runner log tail ----\n" + log_tail(runner, 6000) + "\n----\n";
  });
}

}  // namespace
}  // namespace fnr::chaos

int main(int argc, char** argv) {
  fnr::chaos::Settings s;
  return fnr::chaos::run_program(
      "fn-runner-chaos", argc, argv,
      [&s](const fnr::chaos::Flags& flags) {
        s.calls = flags.get("calls", s.calls);
        s.concurrency = std::max<uint64_t>(1, flags.get("concurrency", s.concurrency));
        s.seed = flags.get("seed", std::random_device{}());
        s.capacity_mib = flags.get("capacity-mib", s.capacity_mib);
        s.idle_timeout_s = static_cast<uint32_t>(flags.get("idle-timeout", s.idle_timeout_s));
        s.mix.min_gap = std::chrono::milliseconds(flags.get("fault-gap-min-ms", 20));
        s.mix.max_gap = std::chrono::milliseconds(flags.get("fault-gap-max-ms", 150));
        s.planned_cancel_pct = flags.get("planned-cancel-pct", s.planned_cancel_pct);
        s.settle_timeout = std::chrono::seconds(flags.get("settle-timeout", 60));
        s.drain_calls = flags.get("drain-calls", s.drain_calls);
      },
      [&s] { return fnr::chaos::run(s); });
}
