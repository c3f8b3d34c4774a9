#include "worker/container_ready.h"

#include <chrono>
#include <optional>
#include <utility>

namespace fnr {
namespace {

// Loop thread only.
std::function<void(int64_t)>& listener() {
  static std::function<void(int64_t)> fn;
  return fn;
}
std::optional<std::chrono::steady_clock::time_point>& starting_since() {
  static std::optional<std::chrono::steady_clock::time_point> since;
  return since;
}

}  // namespace

void set_container_ready_listener(std::function<void(int64_t start_ns)> on_ready) {
  listener() = std::move(on_ready);
}

void note_container_starting() { starting_since() = std::chrono::steady_clock::now(); }

void note_container_ready() {
  auto& since = starting_since();
  if (!since) return;
  const auto took = std::chrono::steady_clock::now() - *std::exchange(since, std::nullopt);
  if (listener()) {
    listener()(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
  }
}

}  // namespace fnr
