// fn-test-hsfunc: an http-stream function for the tests, playing a simple
// FDK or a hostile one. It listens on FN_LISTENER the way fdk-node does
// (binds <name>.tmp, chmod 0666, then symlinks <name> to it) and serves
// `POST /call` on kept-alive connections, one at a time. A tiny
// hand-written HTTP/1.1 server is fine here: this is test code, and it has
// to misbehave in ways no real server library would.
//
// HS_MODE (from the call's config):
//   echo         the body back, 200, the request's Content-Type, X-Call-Id:
//                <Fn-Call-Id>, X-Deadline: <Fn-Deadline>, X-Echo-<n>: <v> for
//                each X-Test-<n> request header, plus hop-by-hop headers
//                the runner must drop (default)
//   echochunked  echo with a chunked response
//   headers      the request head (request line and headers) as the body
//   env          the environment, one variable a line
//   count        the number of calls this process has served ("1", "2", ...)
//   keepclose    count, answered with Connection: close, then closed
//   interim      a "100 Continue" first, then echo
//   status502    502 with a JSON body   status504 / status418: that status
//   crash        headers and part of the body, then the process dies
//   closeconn    headers and part of the body, then the connection closes
//                (the process lives on)
//   hugeheaders  an HS_BYTES header (70 KiB)      hugebody: HS_BYTES bytes of 'x'
//   sleep        HS_SLEEP_MS before reading the request, then echo
//   memhog       touches memory until the cgroup's OOM killer ends it
//   filliofs     writes into the socket directory until it is full:
//                "FILLED <bytes> <error>"
//   noread       answers "early" without reading the body
//   plainsocket  binds <name> itself and listens only 100 ms later, then echo
//   nosocket     never listens          exitearly: exit 3 before listening
//   badlink      <name> -> /etc/passwd  regularfile: <name> is a plain file
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fn-test-hsfunc: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void hang() {
  for (;;) pause();
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Buffered reads from the connection.
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}
  // Everything up to and including "\r\n\r\n"; false on EOF or error.
  bool read_head(std::string* head) {
    for (;;) {
      const size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        head->assign(buf_, 0, end + 4);
        buf_.erase(0, end + 4);
        return true;
      }
      if (buf_.size() > (1U << 20) || !fill()) return false;
    }
  }
  bool read_line(std::string* line) {
    for (;;) {
      const size_t end = buf_.find("\r\n");
      if (end != std::string::npos) {
        line->assign(buf_, 0, end);
        buf_.erase(0, end + 2);
        return true;
      }
      if (!fill()) return false;
    }
  }
  bool read_exact(size_t n, std::string* out) {
    while (buf_.size() < n) {
      if (!fill()) return false;
    }
    out->append(buf_, 0, n);
    buf_.erase(0, n);
    return true;
  }

 private:
  bool fill() {
    char tmp[65536];
    const ssize_t n = read(fd_, tmp, sizeof tmp);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  std::string buf_;
};

struct Request {
  std::string head;
  std::string method, target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  [[nodiscard]] std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (iequals(k, name)) return v;
    }
    return "";
  }
};

bool parse_head(Request* r) {
  size_t pos = r->head.find("\r\n");
  const std::string line = r->head.substr(0, pos);
  const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return false;
  r->method = line.substr(0, sp1);
  r->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  pos += 2;
  while (pos < r->head.size()) {
    const size_t end = r->head.find("\r\n", pos);
    if (end == pos) break;
    const std::string h = r->head.substr(pos, end - pos);
    const size_t colon = h.find(':');
    if (colon == std::string::npos) return false;
    size_t v = colon + 1;
    while (v < h.size() && h[v] == ' ') ++v;
    r->headers.emplace_back(h.substr(0, colon), h.substr(v));
    pos = end + 2;
  }
  return true;
}

// The request body, chunked or Content-Length framed.
bool read_body(Reader& in, Request* r) {
  if (iequals(r->header("Transfer-Encoding"), "chunked")) {
    std::string line;
    for (;;) {
      if (!in.read_line(&line)) return false;
      const size_t size = std::strtoul(line.c_str(), nullptr, 16);
      if (size == 0) return in.read_line(&line);  // the empty trailer line
      if (!in.read_exact(size, &r->body) || !in.read_line(&line)) return false;
    }
  }
  const std::string cl = r->header("Content-Length");
  return cl.empty() || in.read_exact(std::strtoul(cl.c_str(), nullptr, 10), &r->body);
}

std::string response(int status, const std::string& headers, std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n" + headers +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out.append(body);
  return out;
}

std::string echo_headers(const Request& r) {
  std::string h;
  const std::string ct = r.header("Content-Type");
  if (!ct.empty()) h += "Content-Type: " + ct + "\r\n";
  h += "X-Call-Id: " + r.header("Fn-Call-Id") + "\r\n";
  h += "X-Deadline: " + r.header("Fn-Deadline") + "\r\n";
  for (const auto& [k, v] : r.headers) {
    if (k.size() > 7 && strncasecmp(k.c_str(), "X-Test-", 7) == 0) {
      h += "X-Echo-" + k.substr(7) + ": " + v + "\r\n";
    }
  }
  // Hop-by-hop: about this connection only; the runner must not pass them.
  h += "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n";
  return h;
}

// Serves one connection until it ends or the mode closes it.
void serve(int fd, const std::string& mode, const std::string& path, unsigned* served) {
  Reader in(fd);
  for (;;) {
    Request r;
    if (!in.read_head(&r.head) || !parse_head(&r)) return;
    if (r.method != "POST" || r.target != "/call") {
      send_all(fd, response(400, "", "only POST /call\n"));
      return;
    }
    if (mode == "noread") {
      send_all(fd, response(200, "", "early"));
      return;  // the unread body makes the connection unusable
    }
    if (mode == "sleep") {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::atoi(env_or("HS_SLEEP_MS", "1000").c_str())));
    }
    if (!read_body(in, &r)) return;
    ++*served;
    std::string out;
    if (mode == "echochunked") {
      out = "HTTP/1.1 200 OK\r\n" + echo_headers(r) + "Transfer-Encoding: chunked\r\n\r\n";
      const size_t third = r.body.size() / 3 + 1;
      for (size_t at = 0; at < r.body.size(); at += third) {
        const std::string piece = r.body.substr(at, third);
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        out += size + piece + "\r\n";
      }
      out += "0\r\n\r\n";
    } else if (mode == "headers") {
      out = response(200, "", r.head);
    } else if (mode == "env") {
      std::string body;
      for (char** e = environ; *e != nullptr; ++e) body += std::string(*e) + "\n";
      out = response(200, "", body);
    } else if (mode == "count") {
      out = response(200, "", std::to_string(*served));
    } else if (mode == "keepclose") {
      send_all(fd, response(200, "Connection: close\r\n", std::to_string(*served)));
      return;
    } else if (mode == "interim") {
      out = "HTTP/1.1 100 Continue\r\n\r\n" + response(200, echo_headers(r), r.body);
    } else if (mode == "status502") {
      out = response(502, "Content-Type: application/json\r\n", R"({"message":"boom"})");
    } else if (mode == "status504") {
      out = response(504, "", "too slow");
    } else if (mode == "status418") {
      out = response(418, "", "teapot");
    } else if (mode == "crash" || mode == "closeconn") {
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial...");
      if (mode == "crash") _exit(2);
      return;
    } else if (mode == "filliofs") {
      const std::string fill = path.substr(0, path.rfind('/')) + "/fill";
      std::FILE* f = std::fopen(fill.c_str(), "w");
      size_t written = 0;
      const std::string block(4096, 'f');
      while (f != nullptr && std::fwrite(block.data(), 1, block.size(), f) == block.size() &&
             std::fflush(f) == 0) {
        written += block.size();
      }
      const std::string why = std::strerror(errno);
      if (f != nullptr) std::fclose(f);
      out = response(200, "", "FILLED " + std::to_string(written) + " " + why);
    } else if (mode == "memhog") {
      std::vector<std::string> hog;
      for (;;) hog.emplace_back(1U << 20, 'm');  // every page touched
    } else if (mode == "hugeheaders") {
      const size_t n = std::strtoull(env_or("HS_BYTES", "71680").c_str(), nullptr, 10);
      out = response(200, "X-Huge: " + std::string(n, 'h') + "\r\n", "small body");
    } else if (mode == "hugebody") {
      const size_t n = std::strtoull(env_or("HS_BYTES", "8388608").c_str(), nullptr, 10);
      if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n")) {
        return;
      }
      const std::string block(65536, 'x');
      for (size_t left = n; left > 0;) {
        const size_t k = std::min(left, block.size());
        if (!send_all(fd, std::string_view(block).substr(0, k))) return;
        left -= k;
      }
      continue;
    } else {  // echo, sleep, plainsocket
      out = response(200, echo_headers(r), r.body);
    }
    if (!send_all(fd, out)) return;
  }
}

}  // namespace

int main() {
  signal(SIGPIPE, SIG_IGN);
  const std::string mode = env_or("HS_MODE", "echo");
  const std::string listener = env_or("FN_LISTENER", "");
  if (env_or("FN_FORMAT", "") != "http-stream" || listener.rfind("unix:", 0) != 0) {
    std::fprintf(stderr, "fn-test-hsfunc: FN_FORMAT/FN_LISTENER missing\n");
    return 2;
  }
  const std::string path = listener.substr(5);
  const std::string name = path.substr(path.rfind('/') + 1);

  if (mode == "exitearly") return 3;
  if (mode == "nosocket") hang();
  if (mode == "badlink") {
    if (symlink("/etc/passwd", path.c_str()) != 0) die("symlink");
    hang();
  }
  if (mode == "regularfile") {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) die("create");
    std::fclose(f);
    hang();
  }

  const int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  const bool plain = mode == "plainsocket";
  const std::string bound = plain ? path : path + ".tmp";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", bound.c_str());
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (chmod(bound.c_str(), 0666) != 0) die("chmod");
  if (plain) {
    // Bound (and so visible) before listening: a runner must cope with a
    // refused connect for a moment.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (listen(lfd, 16) != 0) die("listen");
  if (!plain && symlink((name + ".tmp").c_str(), path.c_str()) != 0) die("symlink");
  std::fprintf(stderr, "fn-test-hsfunc: listening on %s (mode %s)\n", path.c_str(), mode.c_str());

  unsigned served = 0;
  for (;;) {
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      die("accept");
    }
    serve(fd, mode, path, &served);
    close(fd);
  }
}
