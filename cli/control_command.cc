// `fn-runnerctl drain` / `resume`: what an operator runs before stopping or
// upgrading a runner (and to change their mind), over the runner's control
// socket; the runner keeps running either way.
#include <getopt.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "cli/control_client.h"
#include "cli/flags.h"
#include "shared/config.h"

namespace fnr::cli {
namespace {

constexpr std::string_view kHelp =
    R"(usage: fn-runnerctl drain [--timeout S] [options]
       fn-runnerctl resume [options]

  drain    the runner refuses new calls (NACK: the LB places them elsewhere),
           ends its idle hot containers, and this waits until no call is in
           flight; exit 0 once drained, 1 at the timeout (the runner stays
           draining). The runner process keeps running.
  resume   the runner takes calls again.

options:
  --timeout S            give up waiting after S seconds (default: the
                         runner's drain_timeout_s; 0 = wait as long as it takes)
  --ledger NAME          the runner's instance (ledger) name
  --runtime-dir DIR      its sandbox.runtime_dir (default /run/fn-runner)
  --config FILE          read both from the runner's JSON config
  --socket PATH          the control socket itself (<runtime-dir>/<ledger>.ctl)
)";

}  // namespace

int control_command(int argc, char** argv) {
  const std::string_view command = argv[0];
  std::string ledger, runtime_dir, config_file, socket;
  std::optional<uint32_t> timeout_s;

  static const std::vector<option> kOptions = long_options({
      {"timeout", required_argument, nullptr, 0},
      {"ledger", required_argument, nullptr, 0},
      {"runtime-dir", required_argument, nullptr, 0},
      {"config", required_argument, nullptr, 0},
      {"socket", required_argument, nullptr, 0},
  });
  const auto parsed = parse_long_options(argc, argv, kOptions, kHelp, "",
                                         [&](std::string_view name, const char* v) {
                                           if (name == "timeout") {
                                             uint32_t s = 0;
                                             if (!parse_number(name, v, &s)) return false;
                                             timeout_s = s;
                                           } else if (name == "ledger") {
                                             ledger = v;
                                           } else if (name == "runtime-dir") {
                                             runtime_dir = v;
                                           } else if (name == "config") {
                                             config_file = v;
                                           } else {
                                             socket = v;
                                           }
                                           return true;
                                         });
  if (parsed) return *parsed;
  if (optind < argc) {
    std::fprintf(stderr, "fn-runnerctl %s: unexpected argument '%s'\n", argv[0], argv[optind]);
    return kExitUsage;
  }
  if (command == "resume" && timeout_s) {
    std::fprintf(stderr, "fn-runnerctl resume: --timeout is for drain\n");
    return kExitUsage;
  }
  if (socket.empty()) {
    // The runner's own defaults and config file, as `image` finds its store.
    std::vector<std::string> args;
    if (!config_file.empty()) args.push_back("--config=" + config_file);
    const ConfigLoad load = load_config(args);
    if (!load.config) {
      std::fprintf(stderr, "fn-runnerctl %s: %s\n", argv[0], load.error.c_str());
      return kExitUsage;
    }
    socket = control_path(runtime_dir.empty() ? load.config->sandbox.runtime_dir : runtime_dir,
                          ledger.empty() ? load.config->ledger_name : ledger);
  }

  std::string line(command);
  if (command == "drain" && timeout_s) line += " " + std::to_string(*timeout_s);
  std::string last;
  std::string error;
  const bool ok = control_request(
      socket, line,
      [&](std::string_view answer) {
        std::printf("%.*s\n", static_cast<int>(answer.size()), answer.data());
        std::fflush(stdout);
        last = answer;
      },
      &error);
  if (!ok) {
    std::fprintf(stderr, "fn-runnerctl %s: %s\n", argv[0], error.c_str());
    return kExitFailed;
  }
  if (command == "drain") return last.starts_with("drained ") ? kExitOk : kExitFailed;
  return last == "resumed" ? kExitOk : kExitFailed;
}

}  // namespace fnr::cli
