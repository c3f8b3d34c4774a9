// fn-test-httpfunc: a hot function in Fn's 2018 `http` format. It reads
// HTTP/1.1 requests from stdin one after the other and answers each on
// stdout. The mode comes from HF_MODE (the call's config), or per request
// from an X-Mode header, so one container can be made to misbehave on a
// chosen call:
//   echo     200, body = the request's body (default)
//   garbage  a line that is not HTTP
//   exit     exit (status 0) after reading the request, answering nothing
//   sleep    sleep HF_SLEEP_MS (or the X-Sleep-Ms header), then echo
// Every answer carries X-Served: <requests this process has served>, and
// each request header as X-Req-<Name>, the request line as X-Req-Line.
// Each request is logged to stderr as "httpfunc: request <n> <FN_CALL_ID>".
//
// Test code: the request is parsed by hand, just enough for what the runner
// sends (Content-Length framing, no chunking, no continuation lines).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

class StdinReader {
 public:
  // A line without its CRLF; false at EOF.
  bool line(std::string* out) {
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        *out = buf_.substr(0, nl);
        if (!out->empty() && out->back() == '\r') out->pop_back();
        buf_.erase(0, nl + 1);
        return true;
      }
      if (!fill()) return false;
    }
  }
  bool exactly(size_t n, std::string* out) {
    while (buf_.size() < n) {
      if (!fill()) return false;
    }
    *out = buf_.substr(0, n);
    buf_.erase(0, n);
    return true;
  }

 private:
  bool fill() {
    char chunk[65536];
    const ssize_t n = read(0, chunk, sizeof chunk);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  std::string buf_;
};

struct Request {
  std::string line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  [[nodiscard]] std::string header(const char* name) const {
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), name) == 0) return v;
    }
    return "";
  }
};

bool read_request(StdinReader& in, Request* r) {
  if (!in.line(&r->line)) return false;
  std::string h;
  while (in.line(&h) && !h.empty()) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    size_t v = colon + 1;
    while (v < h.size() && h[v] == ' ') ++v;
    r->headers.emplace_back(h.substr(0, colon), h.substr(v));
  }
  const size_t length = std::strtoull(r->header("Content-Length").c_str(), nullptr, 10);
  return in.exactly(length, &r->body);
}

bool write_all(int fd, const std::string& s) {
  const char* p = s.data();
  size_t n = s.size();
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

}  // namespace

int main() {
  StdinReader in;
  long served = 0;
  for (;;) {
    Request r;
    if (!read_request(in, &r)) return 0;
    ++served;
    write_all(2,
              "httpfunc: request " + std::to_string(served) + " " + r.header("FN_CALL_ID") + "\n");
    std::string mode = r.header("X-Mode");
    if (mode.empty()) mode = env_or("HF_MODE", "echo");
    if (mode == "exit") return 0;
    if (mode == "garbage") {
      write_all(1, "this is not an HTTP response\n");
      continue;
    }
    if (mode == "sleep") {
      std::string ms = r.header("X-Sleep-Ms");
      if (ms.empty()) ms = env_or("HF_SLEEP_MS", "0");
      std::this_thread::sleep_for(std::chrono::milliseconds(std::strtoll(ms.c_str(), nullptr, 10)));
    }
    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
    out += "X-Served: " + std::to_string(served) + "\r\n";
    out += "X-Req-Line: " + r.line + "\r\n";
    for (const auto& [k, v] : r.headers) out += "X-Req-" + k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
    out += r.body;
    if (!write_all(1, out)) return 1;
  }
}
