#include "worker/hot_container.h"
#include "worker/http_format.h"
#include "worker/http_stream_container.h"
#include "worker/json_format.h"

namespace fnr {

// Each hot format registers here as it is implemented.
std::unique_ptr<HotContainer> make_hot_container(uv_loop_t* loop, const wire::CallSpec& spec,
                                                 const std::vector<sock_filter>& seccomp) {
  if (spec.format() == "http-stream") {
    return std::make_unique<HttpStreamContainer>(loop, seccomp, HotLimits::from(spec));
  }
  if (spec.format() == "http")
    return make_http_format_container(loop, seccomp, HotLimits::from(spec));
  if (spec.format() == "json") return make_json_format_container(loop, seccomp);
  return nullptr;
}

}  // namespace fnr
