#include "supervisor/spawner.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace fnr {

Spawner::Spawner(Spawn spawn, Deliver deliver, Failed failed)
    : spawn_(std::move(spawn)),
      deliver_(std::move(deliver)),
      failed_(std::move(failed)),
      thread_([this] { run(); }) {}

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
      // Drop what is waiting too, and say so: the pool then asks again when
      // it next needs a spare (a cold call, a lost worker), so a failure
      // that lasts does not spin here.
      spdlog::error("cannot start a spare worker: {}", e.what());
      unsigned dropped = 1;
      {
        std::lock_guard<std::mutex> lock(mu_);
        dropped += std::exchange(wanted_, 0U);
      }
      failed_(dropped);
    }
  }
}

}  // namespace fnr
