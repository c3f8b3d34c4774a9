#pragma once
// The call JSON the bench sends, shaped like what a 2018 LB sends for a
// sync call to fn-runner-bench's app.
#include <string>
#include <string_view>

#include "bench/options.h"

namespace fnr::bench {

// A call to route /`route` of `image`, with `o`'s format, timeout, memory
// and body size.
[[nodiscard]] std::string bench_call_json(const Options& o, std::string_view id,
                                          const std::string& image, std::string_view route);

// The bench call's JSON split around its id, so each call costs two appends
// rather than a JSON serialisation.
struct CallTemplate {
  std::string before_id;
  std::string after_id;

  void render(std::string_view id, std::string* out) const {
    out->assign(before_id);
    out->append(id).append(after_id);
  }
};
[[nodiscard]] CallTemplate bench_call_template(const Options& o);

}  // namespace fnr::bench
