#pragma once
// fn-runnerctl's subcommands. Each takes its own arguments (argv[0] is the
// subcommand name) and returns the process exit code: 0 success, 1 the
// runner or the call failed, 2 usage error.
namespace fnr::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

int status_command(int argc, char** argv);
int invoke_command(int argc, char** argv);
int image_command(int argc, char** argv);
// drain and resume (argv[0] says which).
int control_command(int argc, char** argv);

}  // namespace fnr::cli
