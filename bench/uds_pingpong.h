#pragma once
// The cost of one relay hop: a round trip of --size bytes between this
// process and a child over a Unix stream socket, with the scheduler placing
// both as it places the supervisor, a worker and a function. A hot call
// crosses two such round trips the design requires (supervisor <-> worker,
// worker <-> function) on top of the Engage message pattern itself.
#include "bench/driver.h"
#include "bench/options.h"

namespace fnr::bench {

// Where the two sides of a round trip run. On a small VM a wake-up on the
// same CPU costs a few µs and one on another (idle) CPU tens, and left
// free the scheduler picks one and keeps to it for the whole run.
enum class Placement { kFree, kSameCpu, kCrossCpu };

// Workers that each fork an echo child on a socketpair of their own.
WorkerFactory uds_pingpong_workers(const Options& options, Placement placement);

// The cost of one hand-off between two threads of one process, as between
// the supervisor's gRPC thread and its loop thread (an eventfd each way,
// the wake-up libuv's uv_async_send and gRPC's kick both use).
WorkerFactory thread_pingpong_workers(Placement placement);

// False when the process may run on fewer than two CPUs (no kCrossCpu).
bool can_cross_cpus();

}  // namespace fnr::bench
