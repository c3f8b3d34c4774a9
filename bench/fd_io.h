#pragma once
// Whole reads and writes on a blocking fd, retried across EINTR and short
// transfers: the bench's helper processes speak fixed-size messages.
#include <cstddef>

namespace fnr::bench {

// false on error.
bool write_all(int fd, const void* data, size_t n);
// false on EOF or error before `n` bytes.
bool read_all(int fd, void* data, size_t n);

}  // namespace fnr::bench
