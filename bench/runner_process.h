#pragma once
// A real fn-runner started by the bench for the bench: on a free loopback
// port, with its own image store and ledger, stopped with SIGTERM (then
// SIGKILL if it lingers) when the object goes away.
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

namespace fnr::bench {

struct RunnerSetup {
  std::string program;     // fn-runner (its worker is found beside it)
  std::string images_dir;  // --images-dir
  std::string log_path;    // its stdout and stderr
  std::string log_level = "info";
};

class RunnerProcess {
 public:
  // nullptr with `error` set when it cannot be spawned.
  static std::unique_ptr<RunnerProcess> start(const RunnerSetup& setup, std::string* error);
  ~RunnerProcess();
  RunnerProcess(const RunnerProcess&) = delete;
  RunnerProcess& operator=(const RunnerProcess&) = delete;

  [[nodiscard]] const std::string& address() const { return address_; }
  // False once it has exited (it is then reaped).
  bool alive();
  // The end of its log, for error messages.
  [[nodiscard]] std::string log_tail(size_t max_bytes = 2000) const;

 private:
  RunnerProcess() = default;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string address_;
  std::string ledger_;
  std::string log_path_;
};

}  // namespace fnr::bench
