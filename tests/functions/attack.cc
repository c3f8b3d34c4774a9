// fn-test-attack: a hostile function for the security tests. Each mode tries
// one escape and prints one line: "BLOCKED <what>: <errno text>" when the
// sandbox stopped it, "BREACHED <what>" when it got through. The tests
// assert the line; the program itself never decides what is acceptable.
//   ATTACK=read_host     read ATTACK_PATH (a host file outside the image)
//   ATTACK=write_root    create a file in / (the image root)
//   ATTACK=signal_host   kill(ATTACK_PID, SIGKILL): a host process
//   ATTACK=see_host      count processes visible in /proc
//   ATTACK=connect_host  TCP connect to 127.0.0.1:ATTACK_PORT
//   ATTACK=mount         mount a tmpfs
//   ATTACK=ptrace        ptrace-attach to our own child
//   ATTACK=userns        unshare(CLONE_NEWUSER)
//   ATTACK=module        finit_module
//   ATTACK=setuid        setuid(0)
//   ATTACK=caps          print CapEff/CapBnd from /proc/self/status
//   ATTACK=forkbomb      fork until it fails; report how many
//   ATTACK=memhog        touch memory until killed (prints progress)
//   ATTACK=filltmp       write /tmp/fill until it fails; report bytes
//   ATTACK=cgroup_limit  print the memory limit the container sees
//   ATTACK=zombies       leave zombies behind (children exit, never waited)
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

int result(bool blocked, const std::string& what) {
  if (blocked) {
    printf("BLOCKED %s: %s\n", what.c_str(), std::strerror(errno));
  } else {
    printf("BREACHED %s\n", what.c_str());
  }
  fflush(stdout);
  return 0;
}

int read_host() {
  const std::string path = env("ATTACK_PATH");
  std::ifstream in(path);
  std::string line;
  if (in && std::getline(in, line)) return result(false, "read " + path + ": " + line);
  errno = ENOENT;
  return result(true, "read " + path);
}

int see_host() {
  DIR* d = opendir("/proc");
  int n = 0;
  while (dirent* e = d != nullptr ? readdir(d) : nullptr) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') ++n;
  }
  if (d != nullptr) closedir(d);
  printf("PROCESSES %d\n", n);
  return 0;
}

int connect_host() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(env("ATTACK_PORT").c_str())));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  return result(!ok, "connect to the host's 127.0.0.1:" + env("ATTACK_PORT"));
}

int ptrace_child() {
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  const bool ok = ptrace(PTRACE_ATTACH, child, nullptr, nullptr) == 0;
  const int err = errno;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  errno = err;
  return result(!ok, "ptrace attach");
}

int forkbomb() {
  int n = 0;
  for (;;) {
    const pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) break;
    ++n;
  }
  printf("FORKS %d (then: %s)\n", n, std::strerror(errno));
  fflush(stdout);
  return 0;
}

int memhog() {
  size_t total = 0;
  for (;;) {
    const size_t chunk = 16U << 20;
    auto* p = static_cast<char*>(mmap(nullptr, chunk, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) {
      printf("MMAP FAILED after %zu MiB\n", total >> 20);
      return 0;
    }
    std::memset(p, 1, chunk);
    total += chunk;
  }
}

int filltmp() {
  const int fd = open("/tmp/fill", O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return result(true, "open /tmp/fill");
  static char buf[1 << 20];
  std::memset(buf, 'f', sizeof buf);
  size_t total = 0;
  ssize_t n;
  while ((n = write(fd, buf, sizeof buf)) > 0) total += static_cast<size_t>(n);
  printf("TMP WROTE %zu MiB (then: %s)\n", total >> 20, std::strerror(errno));
  fflush(stdout);
  return 0;
}

int zombies() {
  for (int i = 0; i < 5; ++i) {
    if (fork() == 0) _exit(0);
  }
  printf("LEFT ZOMBIES\n");
  fflush(stdout);
  return 0;
}

std::string status_line(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return line;
  }
  return key + " ?";
}

}  // namespace

int main() {
  const std::string mode = env("ATTACK");
  if (mode == "read_host") return read_host();
  if (mode == "write_root") {
    const int fd = open("/breach", O_CREAT | O_WRONLY, 0644);
    return result(fd < 0, "create /breach in the image root");
  }
  if (mode == "signal_host") {
    const int rc = kill(std::atoi(env("ATTACK_PID").c_str()), SIGKILL);
    return result(rc != 0, "kill host pid " + env("ATTACK_PID"));
  }
  if (mode == "see_host") return see_host();
  if (mode == "connect_host") return connect_host();
  if (mode == "mount") {
    return result(mount("x", "/tmp", "tmpfs", 0, nullptr) != 0, "mount tmpfs");
  }
  if (mode == "ptrace") return ptrace_child();
  if (mode == "userns") return result(unshare(CLONE_NEWUSER) != 0, "unshare(CLONE_NEWUSER)");
  if (mode == "userns_clone") {
    const long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0);
    return result(rc < 0, "clone(CLONE_NEWUSER)");
  }
  if (mode == "module") {
    const int fd = open("/proc/self/exe", O_RDONLY);
    return result(syscall(SYS_finit_module, fd, "", 0) != 0, "finit_module");
  }
  if (mode == "setuid") return result(setuid(0) != 0, "setuid(0)");
  if (mode == "caps") {
    printf("%s\n%s\n%s\n", status_line("CapEff").c_str(), status_line("CapBnd").c_str(),
           status_line("NoNewPrivs").c_str());
    printf("UID %d\n", static_cast<int>(getuid()));
    return 0;
  }
  if (mode == "forkbomb") return forkbomb();
  if (mode == "memhog") return memhog();
  if (mode == "filltmp") return filltmp();
  if (mode == "zombies") return zombies();
  if (mode == "cgroup_limit") {
    // Which cgroup we are in, as the kernel tells us; the test reads the
    // limit of that cgroup from the host while we hold still.
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) printf("CGROUP %s\n", line.c_str());
    fflush(stdout);
    char c;
    while (read(0, &c, 1) == 1) {
    }
    sleep(3);
    return 0;
  }
  fprintf(stderr, "unknown ATTACK %s\n", mode.c_str());
  return 2;
}
