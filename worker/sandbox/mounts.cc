// Mounts: inside the container's private mount namespace, the image root is
// bind-mounted and made read-only, with a tmpfs /tmp, a fresh /proc and a
// minimal /dev on top, then pivot_root makes it "/". Nothing here is seen
// by the host, and all of it vanishes with the namespace.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "worker/sandbox/sandbox.h"

namespace fnr::sandbox {
namespace {

constexpr unsigned long kNoDevSuidExec = MS_NOSUID | MS_NODEV | MS_NOEXEC;

bool bind_device(const std::string& dev_dir, const char* name) {
  const std::string target = dev_dir + "/" + name;
  const int fd = open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0) return false;
  close(fd);
  const std::string source = std::string("/dev/") + name;
  return mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) == 0;
}

const char* setup_dev(const std::string& root) {
  const std::string dev = root + "/dev";
  if (mount("tmpfs", dev.c_str(), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") != 0) {
    return "mount tmpfs on /dev";
  }
  for (const char* name : {"null", "zero", "full", "random", "urandom"}) {
    if (!bind_device(dev, name)) return "bind a device into /dev";
  }
  const std::string shm = dev + "/shm";
  if (mkdir(shm.c_str(), 01777) != 0 ||
      mount("shm", shm.c_str(), "tmpfs", kNoDevSuidExec, "mode=1777,size=64m") != 0) {
    return "mount /dev/shm";
  }
  for (const auto& [link, target] :
       {std::pair{"/fd", "/proc/self/fd"}, std::pair{"/stdin", "/proc/self/fd/0"},
        std::pair{"/stdout", "/proc/self/fd/1"}, std::pair{"/stderr", "/proc/self/fd/2"}}) {
    if (symlink(target, (dev + link).c_str()) != 0) return "symlink in /dev";
  }
  // The bind mounts keep the devices usable; remount the tmpfs itself
  // read-only so nothing else can be created there.
  if (mount(nullptr, dev.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
            "mode=0755,size=64k") != 0) {
    return "remount /dev read-only";
  }
  return nullptr;
}

}  // namespace

const char* setup_mounts(const SandboxSpec& spec) {
  // Nothing we mount may propagate back to the host.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "make / private";
  const std::string& root = spec.rootfs;
  if (mount(root.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return "bind-mount the image root";
  }
  const std::string tmp = root + "/tmp";
  const std::string tmp_opts = "mode=1777,size=" + std::to_string(spec.tmpfs_mib) + "m";
  if (mount("tmpfs", tmp.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts.c_str()) != 0) {
    return "mount tmpfs on /tmp";
  }
  for (const auto& b : spec.binds) {
    if (b.target.rfind("/tmp/", 0) != 0) return "bind mount target outside /tmp";
    const std::string target = root + b.target;
    if (mkdir(target.c_str(), 0755) != 0 ||
        mount(b.source.c_str(), target.c_str(), nullptr, MS_BIND | MS_NOSUID | MS_NODEV,
              nullptr) != 0) {
      return "bind-mount a host directory into /tmp";
    }
  }
  const std::string proc = root + "/proc";
  if (mount("proc", proc.c_str(), "proc", kNoDevSuidExec, nullptr) != 0) return "mount /proc";
  if (const char* err = setup_dev(root)) return err;
  if (mount(nullptr, root.c_str(), nullptr,
            MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    return "remount the image root read-only";
  }
  // pivot_root(".", ".") stacks the old root under the new one, so no
  // directory is needed in the read-only image; then detach the old root.
  if (chdir(root.c_str()) != 0) return "chdir into the image root";
  if (syscall(SYS_pivot_root, ".", ".") != 0) return "pivot_root";
  if (umount2(".", MNT_DETACH) != 0) return "detach the old root";
  if (chdir("/") != 0) return "chdir /";
  return nullptr;
}

}  // namespace fnr::sandbox
