#pragma once
// The runner's configuration as an immutable snapshot: gRPC threads and the
// loop thread take one (an atomic shared_ptr copy) per call, a SIGHUP reload
// publishes a new one, and a call keeps the snapshot it started with.
#include <atomic>
#include <memory>

#include "shared/config.h"

namespace fnr {

class ConfigHolder {
 public:
  ConfigHolder() : current_(std::make_shared<const Config>()) {}
  [[nodiscard]] std::shared_ptr<const Config> get() const {
    return current_.load(std::memory_order_acquire);
  }
  void set(std::shared_ptr<const Config> config) {
    current_.store(std::move(config), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const Config>> current_;
};

}  // namespace fnr
