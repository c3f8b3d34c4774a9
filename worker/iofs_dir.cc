#include "worker/iofs_dir.h"

#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace fnr {
namespace {

std::runtime_error sys_error(const std::string& what, const std::string& path) {
  return std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

// mkdir with an exact mode (the worker's umask must not matter); EEXIST
// is fine for the shared parents.
void make_dir(const std::string& path, mode_t mode, bool may_exist) {
  if (mkdir(path.c_str(), mode) != 0) {
    if (errno == EEXIST && may_exist) return;
    throw sys_error("mkdir", path);
  }
  if (chmod(path.c_str(), mode) != 0) throw sys_error("chmod", path);
}

void make_parents(const std::string& dir) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (!partial.empty() && partial != "/") make_dir(partial, 0755, true);
  }
}

// The target of a symlink we accept: a plain name in the same directory.
bool plain_sibling_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name != kListenerName &&
         name.find('/') == std::string_view::npos;
}

// The socket directory is the function's to write in, and it lives on the
// host: left alone, a function could fill the host's /run through it. So
// it gets a tmpfs just big enough for sockets and symlinks. The tmpfs is
// mounted in a mount namespace of the worker's own (one worker, one
// container), a slave of the host's so that nothing mounted here shows
// outside: it vanishes with the worker however the worker ends, and the
// host only ever sees an empty directory. The container's namespace is
// cloned from ours, so the bind mount of the path picks up the tmpfs.
bool own_mount_namespace() {
  static const bool ok = [] {
    if (unshare(CLONE_NEWNS) != 0) {
      spdlog::warn("worker: unshare(CLONE_NEWNS): {}; socket directories stay host-backed",
                   std::strerror(errno));
      return false;
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
      spdlog::warn("worker: cannot make mounts private: {}; socket directories stay host-backed",
                   std::strerror(errno));
      return false;
    }
    return true;
  }();
  return ok;
}

}  // namespace

IofsDir::IofsDir(const std::string& runtime_dir, const std::string& sandbox_id, uid_t uid,
                 gid_t gid) {
  if (runtime_dir.empty() || runtime_dir[0] != '/') {
    throw std::runtime_error("sandbox.runtime_dir '" + runtime_dir + "' is not an absolute path");
  }
  if (!plain_sibling_name(sandbox_id)) {
    throw std::runtime_error("sandbox id '" + sandbox_id + "' is not a plain name");
  }
  make_parents(runtime_dir);
  container_dir_ = runtime_dir + "/" + sandbox_id;
  path_ = container_dir_ + "/iofs";
  // Sandbox ids are unique, so a leftover can only be a dead worker's with
  // nothing running in it any more; fdk-node refuses a stale socket, so the
  // directory must start empty.
  std::error_code ec;
  std::filesystem::remove_all(container_dir_, ec);
  make_dir(container_dir_, 0755, false);
  try {
    make_dir(path_, 0700, false);
    if (chown(path_.c_str(), uid, gid) != 0) throw sys_error("chown", path_);
    if (own_mount_namespace()) {
      const std::string opts = "size=64k,nr_inodes=64,mode=0700,uid=" + std::to_string(uid) +
                               ",gid=" + std::to_string(gid);
      if (mount("fn-iofs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                opts.c_str()) != 0) {
        throw sys_error("mount tmpfs on", path_);
      }
      mounted_ = true;
    }
    fd_.reset(open(path_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd_) throw sys_error("open", path_);
  } catch (...) {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
    std::filesystem::remove_all(container_dir_, ec);
    throw;
  }
}

IofsDir::~IofsDir() {
  fd_.reset();
  if (mounted_ && umount2(path_.c_str(), MNT_DETACH) != 0) {
    spdlog::warn("cannot unmount {}: {}", path_, std::strerror(errno));
  }
  // The container is gone by now (its owner destroys it first), so nothing
  // inside can race this removal.
  std::error_code ec;
  std::filesystem::remove_all(container_dir_, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", container_dir_, ec.message());
}

ListenerState inspect_listener(int dir_fd, UniqueFd* socket_inode, std::string* why) {
  UniqueFd f(openat(dir_fd, kListenerName, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!f) {
    if (errno == ENOENT) return ListenerState::kAbsent;
    *why = std::string("cannot open lsnr.sock: ") + std::strerror(errno);
    return ListenerState::kInvalid;
  }
  struct stat st {};
  if (fstat(f.get(), &st) != 0) {
    *why = std::string("cannot stat lsnr.sock: ") + std::strerror(errno);
    return ListenerState::kInvalid;
  }
  if (S_ISSOCK(st.st_mode)) {
    *socket_inode = std::move(f);
    return ListenerState::kReady;
  }
  if (!S_ISLNK(st.st_mode)) {
    *why = "lsnr.sock is neither a socket nor a symlink";
    return ListenerState::kInvalid;
  }
  char target[256];
  const ssize_t n = readlinkat(dir_fd, kListenerName, target, sizeof target);
  if (n < 0 || static_cast<size_t>(n) >= sizeof target) {
    *why = "lsnr.sock is an unreadable or overlong symlink";
    return ListenerState::kInvalid;
  }
  const std::string_view name(target, static_cast<size_t>(n));
  if (!plain_sibling_name(name)) {
    *why = "lsnr.sock points outside its directory (" + std::string(name) + ")";
    return ListenerState::kInvalid;
  }
  target[n] = '\0';
  UniqueFd s(openat(dir_fd, target, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!s || fstat(s.get(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    *why = "lsnr.sock points to " + std::string(name) + ", which is not a socket";
    return ListenerState::kInvalid;
  }
  *socket_inode = std::move(s);
  return ListenerState::kReady;
}

UniqueFd connect_listener(const UniqueFd& socket_inode, int* error) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    *error = errno;
    return fd;
  }
  // The magic link resolves to the very inode we checked; no name lookup
  // in the function's directory happens here. (It also keeps sun_path
  // short whatever runtime_dir is.)
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d", socket_inode.get());
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    *error = errno;
    return UniqueFd();
  }
  return fd;
}

}  // namespace fnr
