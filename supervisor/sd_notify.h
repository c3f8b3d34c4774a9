#pragma once
// systemd's service notification protocol (sd_notify(3)), for Type=notify
// units: readiness, stopping, stop-timeout extensions and the watchdog.
// Every call is a no-op when $NOTIFY_SOCKET is unset (not under systemd).
#include <uv.h>

#include <chrono>
#include <memory>
#include <string_view>

namespace fnr {

class EventLoop;

namespace sd {

// READY=1 with STATUS=<status>: the service is up (the gRPC port listens).
void notify_ready(std::string_view status);
// RELOADING=1 with MONOTONIC_USEC (Type=notify-reload): a SIGHUP reload
// has begun; notify_ready() says it is over.
void notify_reloading();
// STOPPING=1: draining has begun.
void notify_stopping();
// EXTEND_TIMEOUT_USEC=<extension>: the stop (or start) is still making
// progress; systemd's timeout now ends no sooner than `extension` from now.
void notify_extend_timeout(std::chrono::microseconds extension);

// Sends WATCHDOG=1 every half of $WATCHDOG_USEC from a timer on `loop`'s
// thread, so a wedged loop thread stops the pings and systemd restarts us.
// Does nothing when the unit has no WatchdogSec= (sd_watchdog_enabled()).
class Watchdog {
 public:
  explicit Watchdog(EventLoop& loop);  // the loop must be started
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Closes the timer; call before EventLoop::stop(), whose uv_run would
  // otherwise never run out of handles. Idempotent.
  void stop();
  [[nodiscard]] bool enabled() const { return interval_.count() != 0; }
  // $WATCHDOG_USEC (0 when disabled); pings go out every half of it.
  [[nodiscard]] std::chrono::microseconds interval() const { return interval_; }

 private:
  static void on_timer(uv_timer_t* timer);

  EventLoop& loop_;
  std::chrono::microseconds interval_{0};
  // The timer, made and closed by tasks on the loop thread (which alone
  // read or write the slot); freed by uv_close's callback.
  std::shared_ptr<uv_timer_t*> timer_;
  bool stopped_ = false;
};

}  // namespace sd
}  // namespace fnr
