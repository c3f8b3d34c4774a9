#pragma once
// The environment a function process gets (function-contract.md): the
// call's config verbatim, Fn's per-call variables, and nothing of the
// worker's own environment.
#include <string>
#include <vector>

#include "proto/worker.pb.h"

namespace fnr {

// RFC 3339 UTC with milliseconds, as Fn writes Fn-Deadline / FN_DEADLINE.
std::string rfc3339_utc_ms(int64_t unix_ms);

// For the stdin/stdout formats (`default`, `http`, `json`). `image_env` is
// the image's Env ("K=V"); the call's config and Fn's variables win over it.
std::vector<std::string> stdio_format_env(const wire::CallSpec& spec,
                                          const std::vector<std::string>& image_env);

// For http-stream: the image's Env, the call's config, FN_FORMAT and
// FN_LISTENER=unix:<listener> (the socket path inside the container).
std::vector<std::string> http_stream_env(const wire::CallSpec& spec,
                                         const std::vector<std::string>& image_env,
                                         const std::string& listener);

}  // namespace fnr
