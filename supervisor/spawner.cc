#include "supervisor/spawner.h"

#include <spdlog/spdlog.h>

namespace fnr {

Spawner::Spawner(Spawn spawn, Deliver deliver)
    : spawn_(std::move(spawn)), deliver_(std::move(deliver)), thread_([this] { run(); }) {}

Spawner::~Spawner() { stop(); }

void Spawner::request(unsigned n) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wanted_ += n;
  }
  cv_.notify_one();
}

void Spawner::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Spawner::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || wanted_ > 0; });
      if (stopping_) return;
      --wanted_;
    }
    try {
      deliver_(spawn_());
    } catch (const std::exception& e) {
      // The pool asks again when it next needs a spare; don't spin.
      spdlog::error("cannot start a spare worker: {}", e.what());
      std::lock_guard<std::mutex> lock(mu_);
      wanted_ = 0;
    }
  }
}

}  // namespace fnr
