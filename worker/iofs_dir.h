#pragma once
// The http-stream socket directory of one container (function-contract.md):
// a fresh, private, empty host directory <runtime_dir>/<sandbox id>/iofs,
// bind-mounted at /tmp/iofs inside, where the function binds its listener.
// Removed with this object. A worker that dies cannot remove it: the
// supervisor removes <runtime_dir>/<sandbox id> after a dead worker. (What
// the function wrote there is on a small tmpfs that only the worker's own
// mount namespace sees, so it is gone with the worker; the supervisor
// finds empty directories. See iofs_dir.cc.)
//
// The directory belongs to the function (its uid owns it), so everything
// in it is untrusted: the worker, root, never follows a path through it.
// The listener is opened O_PATH|O_NOFOLLOW once, checked, and connected to
// through that descriptor, so a symlink swapped in later cannot point the
// worker at a socket of the host.
#include <sys/types.h>

#include <string>

#include "shared/unique_fd.h"

namespace fnr {

inline constexpr const char* kListenerName = "lsnr.sock";

class IofsDir {
 public:
  // Creates the directory (parents 0755, root's; the directory itself
  // 0700, owned by uid:gid). Throws std::runtime_error with the path.
  IofsDir(const std::string& runtime_dir, const std::string& sandbox_id, uid_t uid, gid_t gid);
  ~IofsDir();  // removes <runtime_dir>/<sandbox id>
  IofsDir(const IofsDir&) = delete;
  IofsDir& operator=(const IofsDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] int fd() const { return fd_.get(); }  // O_PATH of the directory

 private:
  std::string container_dir_;  // <runtime_dir>/<sandbox id>
  std::string path_;           // .../iofs
  UniqueFd fd_;
  bool mounted_ = false;  // a tmpfs on path_, in the worker's mount namespace
};

enum class ListenerState {
  kAbsent,   // no lsnr.sock (yet)
  kReady,    // a socket, or a symlink to a socket beside it
  kInvalid,  // anything else: the container failed to initialize
};

// Looks at lsnr.sock in the directory `dir_fd`. kReady sets *socket_inode
// (O_PATH of the socket itself); kInvalid says why in *why.
ListenerState inspect_listener(int dir_fd, UniqueFd* socket_inode, std::string* why);

// Connects a non-blocking stream socket to the socket `socket_inode`
// refers to. An invalid fd with *error = errno on failure (ECONNREFUSED: it
// is bound but not listening yet).
UniqueFd connect_listener(const UniqueFd& socket_inode, int* error);

}  // namespace fnr
