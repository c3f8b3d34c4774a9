#include "bench/call_json.h"

#include <nlohmann/json.hpp>

namespace fnr::bench {

std::string bench_call_json(const Options& o, std::string_view id, const std::string& image,
                            std::string_view route) {
  const std::string path = "/" + std::string(route);
  nlohmann::ordered_json call;
  call["id"] = id;
  call["app_id"] = "fn-runner-bench";
  call["path"] = path;
  call["image"] = image;
  call["type"] = "sync";
  call["format"] = o.format;
  call["url"] = "http://fn-runner-bench/r/fn-runner-bench" + path;
  call["method"] = "POST";
  call["timeout"] = o.timeout_s;
  call["idle_timeout"] = 30;
  call["memory"] = o.memory_mib;
  call["config"] = {{"FN_APP_NAME", "fn-runner-bench"},
                    {"FN_FORMAT", o.format},
                    {"FN_MEMORY", std::to_string(o.memory_mib)},
                    {"FN_PATH", path},
                    {"FN_TYPE", "sync"}};
  call["headers"] = {{"Content-Length", {std::to_string(o.size)}},
                     {"Content-Type", {"application/octet-stream"}}};
  return call.dump();
}

CallTemplate bench_call_template(const Options& o) {
  static constexpr std::string_view kIdMarker = "@CALL-ID@";
  const std::string json = bench_call_json(o, kIdMarker, o.image, "bench");
  const size_t at = json.find(kIdMarker);
  return {json.substr(0, at), json.substr(at + kIdMarker.size())};
}

}  // namespace fnr::bench
