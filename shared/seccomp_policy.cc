#include "shared/seccomp_policy.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace fnr {
namespace {

// Calls denied outright. Grouped by why.
constexpr const char* kDenied[] = {
    // mounts and root changes
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    // namespaces
    "unshare",
    "setns",
    // other processes, kernel memory and introspection
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "perf_event_open",
    "bpf",
    "userfaultfd",
    "lookup_dcookie",
    "syslog",
    // kernel keyring
    "keyctl",
    "add_key",
    "request_key",
    // modules, kexec, reboot, swap, accounting, clocks
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "stime",
    // file handles (the classic container escape), quotas, misc privileged
    "open_by_handle_at",
    "name_to_handle_at",
    "quotactl",
    "quotactl_fd",
    "nfsservctl",
    "vhangup",
    "iopl",
    "ioperm",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "personality",
    "sethostname",
    "setdomainname",
    "get_kernel_syms",
    "query_module",
    "vm86",
    "vm86old",
    "fanotify_init",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "memfd_secret",
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWUSER,   CLONE_NEWNS,  CLONE_NEWPID,
                                        CLONE_NEWNET,    CLONE_NEWIPC, CLONE_NEWUTS,
                                        CLONE_NEWCGROUP, CLONE_NEWTIME};

struct Ctx {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  ~Ctx() { seccomp_release(ctx); }
  Ctx() = default;
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
};

void check(int rc, const std::string& what) {
  if (rc < 0) throw std::runtime_error("seccomp: " + what + ": " + std::strerror(-rc));
}

}  // namespace

std::vector<sock_filter> compile_seccomp_policy() {
  Ctx c;
  if (c.ctx == nullptr) throw std::runtime_error("seccomp: seccomp_init failed");
  for (const char* name : kDenied) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    check(seccomp_rule_add(c.ctx, SCMP_ACT_ERRNO(EPERM), nr, 0), name);
  }
  // clone() may not create namespaces; clone3() hides its flags in memory
  // the filter cannot read, so it answers ENOSYS and libc falls back.
  for (uint64_t flag : kNamespaceFlags) {
    check(seccomp_rule_add(c.ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)),
          "clone namespace flags");
  }
  check(seccomp_rule_add(c.ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
  // TIOCSTI pushes input into a terminal another process reads.
  check(seccomp_rule_add(c.ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFU, 0x5412U /* TIOCSTI */)),
        "ioctl TIOCSTI");

  // Export through a memfd: libseccomp only writes BPF to an fd.
  UniqueFd tmp(memfd_create("fn-seccomp-export", MFD_CLOEXEC));
  if (!tmp) throw std::runtime_error(std::string("seccomp: memfd_create: ") + std::strerror(errno));
  check(seccomp_export_bpf(c.ctx, tmp.get()), "export");
  return read_seccomp_policy(tmp.get());
}

UniqueFd seccomp_policy_memfd(const std::vector<sock_filter>& filter) {
  UniqueFd fd(memfd_create("fn-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw std::runtime_error(std::string("seccomp: memfd_create: ") + std::strerror(errno));
  const size_t bytes = filter.size() * sizeof(sock_filter);
  if (pwrite(fd.get(), filter.data(), bytes, 0) != static_cast<ssize_t>(bytes) ||
      fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    throw std::runtime_error(std::string("seccomp: memfd: ") + std::strerror(errno));
  }
  return fd;
}

std::vector<sock_filter> read_seccomp_policy(int fd) {
  std::vector<sock_filter> out;
  sock_filter buf[256];
  off_t off = 0;
  for (;;) {
    const ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n < 0) throw std::runtime_error(std::string("seccomp: read: ") + std::strerror(errno));
    if (n == 0) break;
    if (n % static_cast<ssize_t>(sizeof(sock_filter)) != 0) {
      throw std::runtime_error("seccomp: filter size is not a whole number of instructions");
    }
    out.insert(out.end(), buf, buf + n / static_cast<ssize_t>(sizeof(sock_filter)));
    off += n;
  }
  if (out.empty()) throw std::runtime_error("seccomp: empty filter");
  return out;
}

}  // namespace fnr
