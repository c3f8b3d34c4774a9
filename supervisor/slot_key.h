#pragma once
// Which hot containers a call may run on: those started for calls that
// agree on everything that shapes a container (Fn's slot: app, fn, image,
// memory, cpus, timeouts, format, tmpfs and the config, which becomes the
// container's environment). We compute it ourselves rather than trusting
// TryCall.slot_hash_id: an LB must not be able to route a call into another
// function's container.
#include <string>

#include "shared/call.h"

namespace fnr {
std::string slot_key(const Call& call);
}
