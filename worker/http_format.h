#pragma once
// The 2018 `http` format (function-contract.md): a hot container that gets
// each call on its stdin as an HTTP/1.1 request (the call's method, URL
// path and headers, FN_CALL_ID, FN_DEADLINE, FN_METHOD and FN_REQUEST_URL
// headers, Content-Length, the body) and answers on its stdout with an
// HTTP/1.1 response, which goes to the LB as it is. Anything but a response
// is `502:invalid http response from function`.
#include <linux/filter.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "worker/hot_container.h"

namespace fnr {

std::unique_ptr<HotContainer> make_http_format_container(uv_loop_t* loop,
                                                         const std::vector<sock_filter>& seccomp,
                                                         const HotLimits& limits);

}  // namespace fnr
