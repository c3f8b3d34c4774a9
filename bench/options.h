#pragma once
// fn-runner-bench's command line.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "client/lb_client.h"

namespace fnr::bench {

enum class Mode {
  kEngage,
  kPingPong,
  kBoth,
  kFloor,
  kUdsPingPong,
  kSelfTest,
  kColdStart,
  kEchoServer,
  kFakeServer
};

struct Options {
  Mode mode = Mode::kEngage;
  // Runner address; "fake" starts a fake runner that echoes (in a child
  // process), the floor for the Engage message pattern itself.
  std::string addr;
  uint32_t concurrency = 1;           // --c: streams in flight, one thread each
  uint64_t calls = 1000;              // --n: measured calls (or round trips) in all
  std::chrono::seconds duration{60};  // hard bound on the measured phase
  uint64_t warmup = 50;               // unmeasured calls first, in all
  size_t size = 64;                   // request body / ping payload bytes
  uint32_t channels = 1;              // connections, shared round-robin
  client::LbMode lb = client::LbMode::kMay;
  // Engage: "sync" is the LB emulator (client/), a thread per stream;
  // "async" is one thread on gRPC's async API (May-shaped calls only).
  bool async_driver = false;
  std::string image = "fnproject/hello:0.0.1";
  uint32_t memory_mib = 128;
  uint32_t timeout_s = 30;
  std::string format = "default";
  std::optional<client::TlsFiles> tls;
  // Pingpong: a new stream per round trip rather than one long stream, the
  // fairer floor for Engage, which opens a stream per call.
  bool stream_per_call = false;
  // Pingpong: serve the echo from this process rather than a child process.
  bool pingpong_in_process = false;
  // Coldstart: the runner to start ("" = fn-runner beside the bench; unused
  // with --addr), the image store an --addr runner reads, the static echo
  // function the image is built from, with /bin/busybox ("" = fn-test-func
  // beside the bench), the started runner's log level.
  std::string runner_path;
  std::string images_dir;
  std::string function_path;
  std::string runner_log_level = "info";
};

// nullopt with the exit code when the process should stop (help, errors).
struct ParsedOptions {
  Options options;
  std::optional<int> exit_code;
};
[[nodiscard]] ParsedOptions parse_options(int argc, char** argv);

}  // namespace fnr::bench
