#pragma once
// Starts spare workers on a thread of its own: posix_spawn blocks its
// caller for a millisecond or more, which the loop thread must not pay.
// Finished spawns are handed to the loop with EventLoop::post().
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "supervisor/worker_process.h"

namespace fnr {

class Spawner {
 public:
  using Spawn = std::function<SpawnedWorker()>;
  using Deliver = std::function<void(SpawnedWorker)>;  // called on the spawner thread
  // A spawn failed: `dropped` requests (that one and those waiting) will not
  // be delivered. Called on the spawner thread.
  using Failed = std::function<void(unsigned dropped)>;

  Spawner(Spawn spawn, Deliver deliver, Failed failed);
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // Asks for `n` more workers.
  void request(unsigned n);
  void stop();

 private:
  void run();

  Spawn spawn_;
  Deliver deliver_;
  Failed failed_;
  std::mutex mu_;
  std::condition_variable cv_;
  unsigned wanted_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace fnr
