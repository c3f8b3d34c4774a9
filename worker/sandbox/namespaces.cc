// Namespaces: one clone3() gives the container its own pid, mount, ipc,
// uts and network namespaces and the worker a pidfd for it, atomically.
#include <linux/sched.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "worker/sandbox/sandbox.h"

namespace fnr::sandbox {

pid_t clone_into_namespaces(bool new_net, int* pidfd) {
  clone_args args{};
  args.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_PIDFD;
  if (new_net) args.flags |= CLONE_NEWNET;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  // fork()-like: no new stack, the child continues here. Safe because the
  // worker is single-threaded.
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}

bool bring_up_loopback() {
  const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  close(s);
  return ok;
}

}  // namespace fnr::sandbox
