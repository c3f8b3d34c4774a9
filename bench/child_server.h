#pragma once
// The baselines' servers in a process of their own (this bench binary in
// echo-server or fake-server mode), so a floor crosses processes as every
// Engage call to a real runner does: a server inside the client's process
// shares its threads and caches and measures a floor no runner could have.
#include <sys/types.h>

#include <memory>
#include <string>

namespace fnr::bench {

// Child side: prints "port N" on stdout, then serves until stdin closes
// (the parent's close or death).
int serve_until_stdin_closes(const std::string& address);

class ChildServer {
 public:
  // Starts `fn-runner-bench <mode>`; nullptr with `error` set on failure.
  static std::unique_ptr<ChildServer> start(const std::string& mode, std::string* error);
  ~ChildServer();  // closes its stdin and reaps it
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;
  [[nodiscard]] const std::string& address() const { return address_; }

 private:
  ChildServer() = default;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string address_;
};

}  // namespace fnr::bench
