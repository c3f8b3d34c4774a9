#pragma once
// When a new container becomes ready, for the supervisor's cold-start
// metrics (CONTAINER_READY frames). Process-wide on purpose: a worker runs
// at most one container at a time, and its formats start containers deep
// inside their own state machines, where no session is at hand.
#include <cstdint>
#include <functional>

namespace fnr {

// `on_ready(start_ns)` runs on the worker's loop thread once per container
// that became ready; the session sends the frame.
void set_container_ready_listener(std::function<void(int64_t start_ns)> on_ready);
// A container is being started (Container::start).
void note_container_starting();
// The container started last is ready for its first call; a no-op unless
// one is starting.
void note_container_ready();

}  // namespace fnr
