#pragma once
// The 2018 `json` format (function-contract.md): a hot container that gets
// each call on its stdin as one JSON object on a line,
//   {"call_id","deadline","body","content_type",
//    "protocol":{"type":"http","method","request_url","headers"}}
// and answers each with one JSON object on a line of its stdout,
//   {"body","content_type","protocol":{"status_code","headers"}}.
// Anything else is `502:invalid json response from function`.
#include <linux/filter.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "worker/hot_container.h"

namespace fnr {

std::unique_ptr<HotContainer> make_json_format_container(uv_loop_t* loop,
                                                         const std::vector<sock_filter>& seccomp);

}  // namespace fnr
