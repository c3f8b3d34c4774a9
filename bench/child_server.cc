#include "bench/child_server.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "shared/unique_fd.h"

extern char** environ;

namespace fnr::bench {

int serve_until_stdin_closes(const std::string& addr) {
  std::printf("port %s\n", addr.substr(addr.rfind(':') + 1).c_str());
  std::fflush(stdout);
  // The parent holds our stdin: its close (or death) ends us.
  char c = 0;
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, &c, 1);
    // errno means something only after a failed read: an EOF (0) with a
    // stale EINTR in errno must still end us.
    if (n == 0 || (n < 0 && errno != EINTR)) return 0;
  }
}

std::unique_ptr<ChildServer> ChildServer::start(const std::string& mode, std::string* error) {
  int in[2];
  int out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return nullptr;
  }
  UniqueFd in_read(in[0]);
  UniqueFd out_write(out[1]);
  UniqueFd out_read(out[0]);
  std::unique_ptr<ChildServer> p(new ChildServer());
  p->stdin_fd_ = in[1];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out_write.get(), STDOUT_FILENO);
  char self[] = "/proc/self/exe";
  std::string mode_arg = mode;
  char* argv[] = {self, mode_arg.data(), nullptr};
  const int rc = posix_spawn(&p->pid_, self, &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    p->pid_ = -1;
    *error = "posix_spawn " + mode + ": " + std::strerror(rc);
    return nullptr;
  }
  out_write.reset();
  std::string line;
  char c = 0;
  while (line.size() < 64 && read(out_read.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
  if (line.rfind("port ", 0) != 0) {
    *error = mode + " did not report its port (got '" + line + "')";
    return nullptr;
  }
  p->address_ = "127.0.0.1:" + line.substr(5);
  return p;
}

ChildServer::~ChildServer() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (pid_ > 0) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace fnr::bench
