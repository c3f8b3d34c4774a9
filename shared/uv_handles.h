#pragma once
// libuv handles must stay allocated until their close callback runs, which
// is after the owning object may be gone. These helpers heap-allocate a
// handle and free it from its close callback, so owners can simply forget
// a handle once they asked for it to close.
#include <uv.h>

#include <stdexcept>
#include <string>

#include "shared/unique_fd.h"

namespace fnr {

template <class Handle>
void close_and_free(Handle*& h) {
  if (h == nullptr) return;
  h->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* x) { delete reinterpret_cast<Handle*>(x); });
  h = nullptr;
}

// A uv_pipe_t over an fd we own (a pipe end or a socket). `data` is set on
// the handle for callbacks.
inline uv_pipe_t* open_pipe_handle(uv_loop_t* loop, UniqueFd fd, void* data) {
  auto* p = new uv_pipe_t{};
  if (int rc = uv_pipe_init(loop, p, 0); rc != 0) {
    delete p;
    throw std::runtime_error(std::string("uv_pipe_init: ") + uv_strerror(rc));
  }
  p->data = data;
  if (int rc = uv_pipe_open(p, fd.get()); rc != 0) {
    close_and_free(p);
    throw std::runtime_error(std::string("uv_pipe_open: ") + uv_strerror(rc));
  }
  fd.release();
  return p;
}

inline uv_stream_t* as_stream(uv_pipe_t* p) { return reinterpret_cast<uv_stream_t*>(p); }

}  // namespace fnr
