#include "bench/options.h"

#include <getopt.h>

#include <charconv>
#include <cstdio>
#include <set>
#include <string_view>

namespace fnr::bench {
namespace {

constexpr std::string_view kHelp = R"(usage: fn-runner-bench [MODE] [--mode MODE] [options]

MODE (default engage):
  engage     Engage calls against --addr, as an Fn 2018 LB
  pingpong   a raw gRPC bidi echo over 127.0.0.1 to a server in a process
             of its own (this binary, echo-server mode): the floor any
             Engage latency is to be compared with
  echo-server, fake-server  serve the echo or the fake runner and print
             "port N"; end when stdin closes (the baselines' child processes)
  both       pingpong, then engage, then their ratios
  floor      where a hot call's time goes: pingpong, the fake runner (the
             Engage message pattern alone), a Unix socket round trip between
             two processes (uds-pingpong), then engage against --addr; prints
             floor_p50_us = fake + 2 round trips (supervisor <-> worker,
             worker <-> function: the design's two relays) and the ratios
  uds-pingpong  --size bytes to a child process and back over a Unix
             stream socket (the cost of one relay), then a wake-up to
             another thread and back over eventfds (the supervisor's own
             hand-off between its gRPC and loop threads)
  selftest   checks the LB client against an in-process fake runner
  coldstart  cold call of a fresh sandboxed echo function (Try to first
             response byte) beside `runc run` and `crun run` of /bin/true
             from the same root filesystem and a bare posix_spawn of
             /bin/true, interleaved; defaults --n 200 --warmup 3 --size 5
             --duration 300; starts its own fn-runner unless --addr is given

Output is one "key: value" per line: <mode>_calls, _seconds, _calls_per_s,
_p50_us, _p90_us, _p99_us, _max_us, _nacks, _errors; "both" adds ratio_p50,
ratio_p99 (engage / pingpong) and ratio_calls_per_s (engage / pingpong);
"floor" adds fake_*, uds_*, thread_*, floor_p50_us,
floor_plus_thread_handoff_p50_us, ratio_floor_p50 (floor / pingpong) and
ratio_engage_to_floor_p50.
coldstart prints coldstart_runner_first_byte_*, _runner_result_start_*,
_runner_total_*, _runc_*, _crun_*, _spawn_* (or "<name>: unavailable: why")
and coldstart_ratio_first_byte_to_{runc,crun,spawn}_p50/_p99.

  --addr HOST:PORT  the runner ("fake": a fake runner that echoes at once, in
                    a child process: the floor of the Engage message pattern)
  --c N             concurrent streams, one thread each (default 1)
  --n N             measured calls or round trips in all (default 1000)
  --duration S      stop measuring after S seconds whatever --n says (default 60)
  --warmup N        unmeasured calls first, in all (default 50)
  --size B          request body / ping payload in bytes (default 64)
  --channels N      gRPC connections, shared round-robin (default 1)
  --lb april|may    LB behaviour for engage (default may)
  --driver sync|async  engage from the LB emulator, a thread per stream
                    (default), or from one thread on gRPC's async API
                    (May-shaped calls, one channel; the leaner load)
  --image IMG       function image (default fnproject/hello:0.0.1)
  --memory MIB      memory per call (default 128)
  --timeout S       call timeout and stream deadline (default 30)
  --format F        call format (default "default")
  --stream-per-call pingpong opens a stream per round trip
  --pingpong-in-process  the echo server runs inside the bench process
  --ca F --cert F --key F --server-name N   TLS to the runner

coldstart only:
  --runner PATH     fn-runner to start (default: beside the bench)
  --images-dir DIR  with --addr: the image store that runner reads
  --function PATH   static echo function (default: fn-test-func beside the bench)
  --runner-log LEVEL  log level of the runner it starts (default info)
)";

template <typename T>
bool number(std::string_view flag, const char* text, T* out) {
  const std::string_view s = text;
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) {
    std::fprintf(stderr, "fn-runner-bench: --%.*s wants a number, got '%s'\n",
                 static_cast<int>(flag.size()), flag.data(), text);
    return false;
  }
  *out = v;
  return true;
}

std::optional<Mode> parse_mode(std::string_view s) {
  if (s == "engage") return Mode::kEngage;
  if (s == "pingpong") return Mode::kPingPong;
  if (s == "both") return Mode::kBoth;
  if (s == "floor") return Mode::kFloor;
  if (s == "uds-pingpong") return Mode::kUdsPingPong;
  if (s == "selftest") return Mode::kSelfTest;
  if (s == "coldstart") return Mode::kColdStart;
  if (s == "echo-server") return Mode::kEchoServer;
  if (s == "fake-server") return Mode::kFakeServer;
  return std::nullopt;
}

}  // namespace

ParsedOptions parse_options(int argc, char** argv) {
  ParsedOptions r;
  Options& o = r.options;
  client::TlsFiles tls;
  bool any_tls = false;
  auto usage_error = [&r]() -> ParsedOptions& {
    r.exit_code = 2;
    return r;
  };

  std::set<std::string_view> given;
  // The mode may come first, as a word.
  int first = 1;
  if (argc > 1 && argv[1][0] != '-') {
    const auto mode = parse_mode(argv[1]);
    if (!mode) {
      std::fprintf(stderr, "fn-runner-bench: unknown mode '%s'\n", argv[1]);
      return usage_error();
    }
    o.mode = *mode;
    first = 2;
  }

  static const option kOptions[] = {
      {"mode", required_argument, nullptr, 0},
      {"addr", required_argument, nullptr, 0},
      {"c", required_argument, nullptr, 0},
      {"n", required_argument, nullptr, 0},
      {"duration", required_argument, nullptr, 0},
      {"warmup", required_argument, nullptr, 0},
      {"size", required_argument, nullptr, 0},
      {"channels", required_argument, nullptr, 0},
      {"lb", required_argument, nullptr, 0},
      {"driver", required_argument, nullptr, 0},
      {"image", required_argument, nullptr, 0},
      {"memory", required_argument, nullptr, 0},
      {"timeout", required_argument, nullptr, 0},
      {"format", required_argument, nullptr, 0},
      {"stream-per-call", no_argument, nullptr, 0},
      {"ca", required_argument, nullptr, 0},
      {"cert", required_argument, nullptr, 0},
      {"key", required_argument, nullptr, 0},
      {"server-name", required_argument, nullptr, 0},
      {"runner", required_argument, nullptr, 0},
      {"images-dir", required_argument, nullptr, 0},
      {"function", required_argument, nullptr, 0},
      {"runner-log", required_argument, nullptr, 0},
      {"pingpong-in-process", no_argument, nullptr, 0},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  // getopt_long_only, so that the single-dash "-c 16" and "-n 5000" work too.
  optind = first;
  for (;;) {
    int index = -1;
    const int c = getopt_long_only(argc, argv, "h", kOptions, &index);
    if (c == -1) break;
    if (c == 'h') {
      std::fputs(kHelp.data(), stdout);
      r.exit_code = 0;
      return r;
    }
    if (c != 0) return usage_error();
    const std::string_view name = kOptions[index].name;
    given.emplace(name);
    const char* v = optarg;
    bool ok = true;
    uint64_t seconds = 0;
    if (name == "mode") {
      const auto mode = parse_mode(v);
      if (!mode) std::fprintf(stderr, "fn-runner-bench: unknown mode '%s'\n", v);
      ok = mode.has_value();
      if (mode) o.mode = *mode;
    } else if (name == "addr") {
      o.addr = v;
    } else if (name == "c") {
      ok = number(name, v, &o.concurrency) && o.concurrency > 0;
    } else if (name == "n") {
      ok = number(name, v, &o.calls);
    } else if (name == "duration") {
      ok = number(name, v, &seconds);
      o.duration = std::chrono::seconds(seconds);
    } else if (name == "warmup") {
      ok = number(name, v, &o.warmup);
    } else if (name == "size") {
      ok = number(name, v, &o.size);
    } else if (name == "channels") {
      ok = number(name, v, &o.channels) && o.channels > 0;
    } else if (name == "lb") {
      const auto lb = client::parse_lb_mode(v);
      if (!lb) std::fprintf(stderr, "fn-runner-bench: --lb wants april or may, got '%s'\n", v);
      ok = lb.has_value();
      if (lb) o.lb = *lb;
    } else if (name == "driver") {
      ok = std::string_view(v) == "sync" || std::string_view(v) == "async";
      if (!ok) std::fprintf(stderr, "fn-runner-bench: --driver wants sync or async, got '%s'\n", v);
      o.async_driver = std::string_view(v) == "async";
    } else if (name == "image") {
      o.image = v;
    } else if (name == "memory") {
      ok = number(name, v, &o.memory_mib);
    } else if (name == "timeout") {
      ok = number(name, v, &o.timeout_s) && o.timeout_s > 0;
    } else if (name == "format") {
      o.format = v;
    } else if (name == "stream-per-call") {
      o.stream_per_call = true;
    } else if (name == "pingpong-in-process") {
      o.pingpong_in_process = true;
    } else if (name == "runner") {
      o.runner_path = v;
    } else if (name == "images-dir") {
      o.images_dir = v;
    } else if (name == "function") {
      o.function_path = v;
    } else if (name == "runner-log") {
      o.runner_log_level = v;
    } else {
      any_tls = true;
      if (name == "ca") tls.ca = v;
      if (name == "cert") tls.cert = v;
      if (name == "key") tls.key = v;
      if (name == "server-name") tls.server_name = v;
    }
    if (!ok) return usage_error();
  }
  if (optind < argc) {
    std::fprintf(stderr, "fn-runner-bench: unexpected argument '%s'\n", argv[optind]);
    return usage_error();
  }
  if (any_tls) o.tls = tls;
  if (o.mode == Mode::kColdStart) {
    // Each call starts containers: fewer and smaller than engage's defaults.
    if (!given.contains("n")) o.calls = 200;
    if (!given.contains("warmup")) o.warmup = 3;
    if (!given.contains("size")) o.size = 5;
    if (!given.contains("duration")) o.duration = std::chrono::seconds(300);
    if (!o.addr.empty() && o.images_dir.empty()) {
      std::fputs("fn-runner-bench: coldstart --addr needs --images-dir DIR (that runner's store)\n",
                 stderr);
      return usage_error();
    }
  }
  // The async driver makes plaintext May-shaped calls on one channel: a
  // figure labelled otherwise would not be what was measured.
  if (o.async_driver && (o.lb != client::LbMode::kMay || o.channels != 1 || o.tls)) {
    std::fputs(
        "fn-runner-bench: --driver async makes May calls on one plaintext channel "
        "(no --lb april, --channels or TLS)\n",
        stderr);
    return usage_error();
  }
  if ((o.mode == Mode::kEngage || o.mode == Mode::kBoth || o.mode == Mode::kFloor) &&
      o.addr.empty()) {
    std::fputs("fn-runner-bench: engage needs --addr HOST:PORT (or --addr fake)\n", stderr);
    return usage_error();
  }
  return r;
}

}  // namespace fnr::bench
