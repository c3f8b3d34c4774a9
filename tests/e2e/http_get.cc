#include "tests/e2e/http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "shared/unique_fd.h"

namespace fnr::e2e {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::optional<HttpReply> parse_reply(const std::string& raw, std::string* error) {
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    *error = "no end of headers in " + std::to_string(raw.size()) + " bytes";
    return std::nullopt;
  }
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  HttpReply r;
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) {
    *error = "bad status line: " + line;
    return std::nullopt;
  }
  r.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    r.headers[lower(line.substr(0, colon))] = value;
  }
  r.body = raw.substr(head_end + 4);
  auto length = r.headers.find("content-length");
  if (length != r.headers.end() && std::stoul(length->second) != r.body.size()) {
    *error =
        "body of " + std::to_string(r.body.size()) + " bytes, Content-Length " + length->second;
    return std::nullopt;
  }
  return r;
}

}  // namespace

std::optional<HttpReply> http_request(int port, const std::string& method, const std::string& path,
                                      std::string* error, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = std::string("connect: ") + std::strerror(errno);
    return std::nullopt;
  }
  const std::string request = method + " " + path +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                              "Content-Length: 0\r\n\r\n";
  if (send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    *error = std::string("send: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd.get(), POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      *error = "no complete reply in time; got: " + raw;
      return std::nullopt;
    }
    const ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      *error = std::string("recv: ") + std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  return parse_reply(raw, error);
}

}  // namespace fnr::e2e
