// fn-test-jsonfunc: a hot function in Fn's 2018 `json` format. It reads one
// JSON request per line from stdin and answers each with one JSON line on
// stdout. The mode comes from JF_MODE (the call's config), or per request
// from an X-Mode request header, so one container can be made to misbehave
// on a chosen call:
//   echo     {"body": <the request's body>, "content_type": "text/plain",
//             "protocol": {"status_code": 200, "headers": {...}}} (default)
//   garbage  a line that is not JSON
//   exit     exit (status 0) after reading the request, answering nothing
//   sleep    sleep JF_SLEEP_MS (or the X-Sleep-Ms header), then echo
// The answer's headers: X-Served (requests this process has served),
// X-Call-Id, X-Deadline, X-Method, X-Request-Url, X-Content-Type-In, and
// each request header as X-Req-<Name>. Each request is logged to stderr as
// "jsonfunc: request <n> <call_id>".
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace {

using nlohmann::json;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

std::string first_header(const json& headers, const std::string& name) {
  const auto it = headers.find(name);
  if (it == headers.end() || !it->is_array() || it->empty()) return "";
  return it->front().get<std::string>();
}

}  // namespace

int main() {
  long served = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    const json req = json::parse(line, nullptr, false);
    if (req.is_discarded()) {
      std::cerr << "jsonfunc: request is not JSON" << std::endl;
      return 2;
    }
    ++served;
    const std::string call_id = req.value("call_id", "");
    std::cerr << "jsonfunc: request " << served << " " << call_id << std::endl;
    const json& protocol = req.at("protocol");
    const json& headers = protocol.at("headers");
    std::string mode = first_header(headers, "X-Mode");
    if (mode.empty()) mode = env_or("JF_MODE", "echo");
    if (mode == "exit") return 0;
    if (mode == "garbage") {
      std::cout << "this is {not JSON" << std::endl;
      continue;
    }
    if (mode == "sleep") {
      std::string ms = first_header(headers, "X-Sleep-Ms");
      if (ms.empty()) ms = env_or("JF_SLEEP_MS", "0");
      std::this_thread::sleep_for(std::chrono::milliseconds(std::strtoll(ms.c_str(), nullptr, 10)));
    }
    json out_headers = json::object();
    const auto one = [](const std::string& v) { return json::array({v}); };
    out_headers["X-Served"] = one(std::to_string(served));
    out_headers["X-Call-Id"] = one(call_id);
    out_headers["X-Deadline"] = one(req.value("deadline", ""));
    out_headers["X-Method"] = one(protocol.value("method", ""));
    out_headers["X-Request-Url"] = one(protocol.value("request_url", ""));
    out_headers["X-Content-Type-In"] = one(req.value("content_type", ""));
    for (const auto& [name, values] : headers.items()) out_headers["X-Req-" + name] = values;
    const json answer = {
        {"body", req.value("body", "")},
        {"content_type", "text/plain"},
        {"protocol", {{"status_code", 200}, {"headers", out_headers}}},
    };
    std::cout << answer.dump() << std::endl;  // endl: one line, flushed
  }
  return 0;
}
