// fn-test-func: a real program that the tests run as a function. Its
// behaviour comes from the call's config (env), so one binary serves every
// test image:
//   TEST_MODE=echo      stdin to stdout as it arrives (default)
//   TEST_MODE=lines     echo line by line, flushing each (streaming tests)
//   TEST_MODE=fail      write to stderr and exit 3
//   TEST_MODE=sleep     sleep TEST_SLEEP_MS, then echo
//   TEST_MODE=env       print the environment, one variable a line
//   TEST_MODE=big       write TEST_BYTES bytes of 'x'
//   TEST_MODE=hello     "Hello, <stdin or World>!"
//   TEST_MODE=spawn     fork a child that sleeps forever, then echo
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

extern char** environ;

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

int echo() {
  char buf[65536];
  for (;;) {
    const ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) return n == 0 ? 0 : 1;
    if (!write_all(1, buf, static_cast<size_t>(n))) return 1;
  }
}

int lines() {
  std::string line;
  char c;
  while (read(0, &c, 1) == 1) {
    line.push_back(c);
    if (c == '\n') {
      if (!write_all(1, line.data(), line.size())) return 1;
      line.clear();
    }
  }
  return write_all(1, line.data(), line.size()) ? 0 : 1;
}

int big() {
  size_t left = std::strtoull(env_or("TEST_BYTES", "0").c_str(), nullptr, 10);
  std::string chunk(65536, 'x');
  while (left > 0) {
    const size_t n = std::min(left, chunk.size());
    if (!write_all(1, chunk.data(), n)) return 1;
    left -= n;
  }
  return 0;
}

int hello() {
  std::string name;
  char buf[4096];
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) > 0) name.append(buf, static_cast<size_t>(n));
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  const std::string out = "Hello, " + (name.empty() ? std::string("World") : name) + "!\n";
  return write_all(1, out.data(), out.size()) ? 0 : 1;
}

}  // namespace

int main() {
  const std::string mode = env_or("TEST_MODE", "echo");
  if (mode == "echo") return echo();
  if (mode == "lines") return lines();
  if (mode == "hello") return hello();
  if (mode == "big") return big();
  if (mode == "fail") {
    fprintf(stderr, "test function failing on purpose\n");
    return 3;
  }
  if (mode == "sleep") {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::atoi(env_or("TEST_SLEEP_MS", "60000").c_str())));
    return echo();
  }
  if (mode == "env") {
    for (char** e = environ; *e != nullptr; ++e) printf("%s\n", *e);
    return 0;
  }
  if (mode == "spawn") {
    if (fork() == 0) {
      for (;;) pause();
    }
    return echo();
  }
  fprintf(stderr, "unknown TEST_MODE %s\n", mode.c_str());
  return 2;
}
