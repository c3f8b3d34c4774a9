// `fn-runnerctl status`: what the runner has promised, read straight from
// its shared-memory ledger (so it works even when the gRPC side is stuck),
// plus the Status RPC on request.
#include <getopt.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/control_client.h"
#include "cli/flags.h"
#include "client/lb_client.h"
#include "shared/config.h"
#include "shared/ledger.h"

namespace fnr::cli {
namespace {

constexpr std::string_view kHelp =
    R"(usage: fn-runnerctl status [--ledger NAME] [--grpc HOST:PORT [TLS options]]

Prints the runner's state (serving, draining or stopping, from its control
socket when this user may open it) and its capacity ledger: total, reserved
and free MiB and one line per reservation (call id, MiB, owner pid, state,
age, and for containers the calls served and the image with a short slot key).

  --ledger NAME          shared-memory ledger name (default: the runner's default)
  --runtime-dir DIR      the runner's sandbox.runtime_dir (default /run/fn-runner)
  --grpc HOST:PORT       also call the Status RPC: active, requests_received,
                         requests_handled
  --timeout S            Status RPC deadline in seconds (default 5)
)";

std::string age_text(int64_t start_unix_ms) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t age_ms = start_unix_ms > 0 ? now_ms - start_unix_ms : 0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(age_ms) / 1000.0);
  return buf;
}

bool print_ledger(const std::string& name) {
  std::string error;
  const std::unique_ptr<Ledger> ledger = Ledger::open(name, &error);
  if (!ledger) {
    std::fprintf(stderr, "fn-runnerctl: cannot open ledger '%s': %s\n", name.c_str(),
                 error.c_str());
    return false;
  }
  // One snapshot, so the totals and the lines agree with each other.
  const LedgerSnapshot snap = ledger->snapshot();
  const uint64_t free_mib =
      snap.total_mib > snap.reserved_mib ? snap.total_mib - snap.reserved_mib : 0;
  std::printf("ledger: %s\n", name.c_str());
  std::printf("total_mib: %llu\n", static_cast<unsigned long long>(snap.total_mib));
  std::printf("reserved_mib: %llu\n", static_cast<unsigned long long>(snap.reserved_mib));
  std::printf("free_mib: %llu\n", static_cast<unsigned long long>(free_mib));
  std::printf("reservations: %zu\n", snap.entries.size());
  if (!snap.entries.empty()) {
    std::printf("%-30s %7s %8s %-9s %8s %6s  %s\n", "CALL ID", "MIB", "PID", "STATE", "AGE",
                "CALLS", "CONTAINER");
  }
  for (const ReservationView& e : snap.entries) {
    const std::string_view state = reservation_state_name(e.state);
    std::printf("%-30s %7u %8d %-9.*s %8s %6u  %s\n", e.call_id.empty() ? "-" : e.call_id.c_str(),
                e.mib, static_cast<int>(e.owner_pid), static_cast<int>(state.size()), state.data(),
                age_text(e.start_unix_ms).c_str(), e.calls,
                e.label.empty() ? "-" : e.label.c_str());
  }
  return true;
}

// The runner's own word on whether it takes calls; quiet when the control
// socket is out of reach (another user, an older runner).
void print_state(const std::string& runtime_dir, const std::string& ledger) {
  std::string state;
  std::string error;
  if (control_request(
          control_path(runtime_dir, ledger), "status", [&](std::string_view line) { state = line; },
          &error) &&
      !state.empty()) {
    std::printf("state: %s\n", state.c_str());
  }
}

bool print_grpc_status(const std::string& addr, const TlsFlags& tls, uint32_t timeout_s) {
  std::string error;
  const std::unique_ptr<client::LbClient> lb =
      client::LbClient::create({.target = addr, .tls = tls.tls()}, &error);
  if (!lb) {
    std::fprintf(stderr, "fn-runnerctl: %s\n", error.c_str());
    return false;
  }
  const client::RunnerStatusReply st = lb->status(std::chrono::seconds(timeout_s));
  if (!st.ok) {
    std::fprintf(stderr, "fn-runnerctl: Status RPC to %s failed: gRPC %d: %s\n", addr.c_str(),
                 st.grpc_code, st.grpc_message.c_str());
    return false;
  }
  std::printf("active: %d\n", st.active);
  std::printf("requests_received: %llu\n", static_cast<unsigned long long>(st.requests_received));
  std::printf("requests_handled: %llu\n", static_cast<unsigned long long>(st.requests_handled));
  return true;
}

}  // namespace

int status_command(int argc, char** argv) {
  std::string ledger_name = Config{}.ledger_name;
  std::string runtime_dir = Config{}.sandbox.runtime_dir;
  std::string grpc_addr;
  uint32_t timeout_s = 5;
  TlsFlags tls;

  static const std::vector<option> kOptions = long_options(
      {
          {"ledger", required_argument, nullptr, 0},
          {"runtime-dir", required_argument, nullptr, 0},
          {"grpc", required_argument, nullptr, 0},
          {"timeout", required_argument, nullptr, 0},
      },
      kTlsOptions);
  const auto parsed = parse_long_options(argc, argv, kOptions, kHelp, kTlsHelp,
                                         [&](std::string_view name, const char* v) {
                                           if (name == "ledger") {
                                             ledger_name = v;
                                           } else if (name == "runtime-dir") {
                                             runtime_dir = v;
                                           } else if (name == "grpc") {
                                             grpc_addr = v;
                                           } else if (name == "timeout") {
                                             return parse_number(name, v, &timeout_s);
                                           } else {
                                             tls.take(name, v);
                                           }
                                           return true;
                                         });
  if (parsed) return *parsed;
  if (optind < argc) {
    std::fprintf(stderr, "fn-runnerctl status: unexpected argument '%s'\n", argv[optind]);
    return kExitUsage;
  }

  print_state(runtime_dir, ledger_name);
  bool ok = print_ledger(ledger_name);
  if (!grpc_addr.empty()) ok = print_grpc_status(grpc_addr, tls, timeout_s) && ok;
  return ok ? kExitOk : kExitFailed;
}

}  // namespace fnr::cli
