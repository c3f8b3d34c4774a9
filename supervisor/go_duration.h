#pragma once
// Go's time.Duration.String(), which Fn LBs expect in
// CallAcknowledged.slot_allocation_latency ("153.2µs", "1.5ms", "2m3s").
#include <cstdint>
#include <string>

namespace fnr {
std::string go_duration(int64_t ns);
}
