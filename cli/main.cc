// fn-runnerctl: look at a runner (its capacity ledger, its Status RPC) and
// push calls through it the way Fn's 2018 LBs did.
#include <cstdio>
#include <string_view>

#include "cli/commands.h"

namespace {

constexpr std::string_view kUsage = R"(usage: fn-runnerctl <command> [options]

commands:
  status   capacity ledger (and optionally the Status RPC) of a local runner
  invoke   run one call through a runner, body from stdin, as an Fn LB would
  image    import, list and remove images in the runner's image store
  drain    stop taking calls and wait for those in flight (the runner keeps running)
  resume   take calls again after a drain

Run 'fn-runnerctl <command> --help' for a command's options.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage.data(), stderr);
    return fnr::cli::kExitUsage;
  }
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage.data(), stdout);
    return fnr::cli::kExitOk;
  }
  // The subcommand sees itself as argv[0], as getopt expects.
  if (command == "status") return fnr::cli::status_command(argc - 1, argv + 1);
  if (command == "invoke") return fnr::cli::invoke_command(argc - 1, argv + 1);
  if (command == "image") return fnr::cli::image_command(argc - 1, argv + 1);
  if (command == "drain" || command == "resume") {
    return fnr::cli::control_command(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "fn-runnerctl: unknown command '%s'\n\n%s", argv[1], kUsage.data());
  return fnr::cli::kExitUsage;
}
