#pragma once
// A container that serves call after call: the hot formats (http-stream,
// http, json). The worker's session keeps one between calls; each call is a
// FormatRun it hands out. Idle timeouts and eviction are the supervisor's
// business: it closes the link, the session ends, the container dies.
#include <linux/filter.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "proto/worker.pb.h"
#include "worker/format_run.h"

namespace fnr {

// Limits a hot container keeps for its life, from its first call's spec
// (the supervisor's configuration, the same for every call).
struct HotLimits {
  uint32_t max_response_header_bytes = 64U << 10;
  std::chrono::milliseconds start_timeout{5000};

  static HotLimits from(const wire::CallSpec& spec) {
    HotLimits l;
    if (spec.max_response_header_bytes() != 0) {
      l.max_response_header_bytes = spec.max_response_header_bytes();
    }
    if (spec.start_timeout_ms() != 0)
      l.start_timeout = std::chrono::milliseconds(spec.start_timeout_ms());
    return l;
  }
};

class HotContainer {
 public:
  virtual ~HotContainer() = default;
  // Starts `spec` on this container, starting the container itself on the
  // first call (a failure to start is that call's finish()). The run reports
  // through `sink` and ends with exactly one sink->finish().
  virtual std::unique_ptr<FormatRun> begin_call(const wire::CallSpec& spec, CallSink* sink) = 0;
  // Asked right after a call's finish(): may the next call use us? False
  // after a contract violation, a crash, a timeout or an OOM kill.
  [[nodiscard]] virtual bool reusable() const = 0;
};

// The hot container for `spec`'s format, or nullptr when the format is not
// a hot one (`default`) or unknown.
std::unique_ptr<HotContainer> make_hot_container(uv_loop_t* loop, const wire::CallSpec& spec,
                                                 const std::vector<sock_filter>& seccomp);

}  // namespace fnr
