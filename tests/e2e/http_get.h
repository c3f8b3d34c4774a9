#pragma once
// A minimal HTTP/1.1 client over a real TCP socket, for scraping the
// runner's metrics endpoint: one request, `Connection: close`, the whole
// reply read to EOF under a deadline.
#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace fnr::e2e {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// nullopt with `error` set when there was no complete reply in time.
[[nodiscard]] std::optional<HttpReply> http_request(
    int port, const std::string& method, const std::string& path, std::string* error,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace fnr::e2e
