#include "supervisor/sd_notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "supervisor/event_loop.h"

namespace fnr::sd {
namespace {

// sd_notify() returns 0 without $NOTIFY_SOCKET, > 0 once sent, < 0 (-errno)
// on failure, which is logged but never fatal: the runner works without systemd.
void send(const std::string& state) {
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0) spdlog::warn("sd_notify({}): {}", state, strerror(-rc));
}

}  // namespace

void notify_ready(std::string_view status) { send("READY=1\nSTATUS=" + std::string(status)); }

void notify_reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec =
      static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading");
}

void notify_stopping() { send("STOPPING=1\nSTATUS=draining"); }

void notify_extend_timeout(std::chrono::microseconds extension) {
  send("EXTEND_TIMEOUT_USEC=" + std::to_string(extension.count()));
}

Watchdog::Watchdog(EventLoop& loop) : loop_(loop) {
  uint64_t usec = 0;
  // 0: no watchdog asked for (or $WATCHDOG_PID names another process).
  if (const int rc = sd_watchdog_enabled(0, &usec); rc <= 0 || usec == 0) {
    if (rc < 0) spdlog::warn("sd_watchdog_enabled: {}", strerror(-rc));
    return;
  }
  interval_ = std::chrono::microseconds(usec);
  const uint64_t period_ms = std::max<uint64_t>(1, usec / 2000);
  spdlog::info("systemd watchdog: every {} ms from the loop thread", period_ms);
  timer_ = std::make_shared<uv_timer_t*>(nullptr);
  loop_.post([timer = timer_, uv = loop_.loop(), period_ms] {
    *timer = new uv_timer_t;
    uv_timer_init(uv, *timer);
    uv_timer_start(*timer, on_timer, period_ms, period_ms);
  });
}

Watchdog::~Watchdog() { stop(); }

void Watchdog::stop() {
  if (!enabled() || stopped_) return;
  stopped_ = true;
  // Runs on the loop thread after the start task (post order), so the timer
  // exists; neither task touches `this`, which may be gone by then.
  loop_.post([timer = timer_] {
    if (*timer == nullptr) return;
    uv_timer_stop(*timer);
    uv_close(reinterpret_cast<uv_handle_t*>(*timer),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    *timer = nullptr;
  });
}

void Watchdog::on_timer(uv_timer_t* /*timer*/) { send("WATCHDOG=1"); }

}  // namespace fnr::sd
