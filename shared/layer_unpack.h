#pragma once
// Applies one tar layer (gzip, zstd or plain; libarchive detects which) onto
// a directory tree, the way an overlay of image layers would look: later
// entries replace earlier ones, OCI whiteouts delete what lower layers put
// there.
//
// The tree is written through directory fds, one path component at a time
// with O_NOFOLLOW, so a hostile layer cannot reach outside it. Refused, with
// an error naming the entry: absolute paths, ".." components, paths that go
// through a symlink (an entry a/b where a is a symlink: layers built by
// diffing a filesystem never do this, so it can only be an escape attempt),
// hard links whose target is outside the tree or missing, and character or
// block devices (a function has no business shipping /dev/mem). Fifos and
// sockets are skipped with a warning. Symlinks themselves may point anywhere:
// they resolve inside the container's root at run time, and are never
// followed here. Setuid/setgid bits are stripped, extended attributes (file
// capabilities included) dropped, owners and times kept.
#include <string>
#include <vector>

namespace fnr {

struct UnpackOptions {
  // OCI whiteouts: ".wh.NAME" deletes NAME of lower layers, ".wh..wh..opq"
  // hides everything lower layers put in its directory. Off when unpacking
  // the tar that carries a whole image (oci-archive, docker save).
  bool whiteouts = true;
  // chown entries to the archive's uid/gid (only possible as root).
  bool keep_owners = true;
};

// Reads the tar from `layer_fd` (from its current offset) and applies it to
// the tree at `root_fd`. `what` names the layer in messages ("layer 2/3
// sha256:..."). Throws ImageError; the tree is then half-written and the
// caller discards it. Non-fatal oddities (skipped fifos, ...) are appended
// to `warnings` when it is not null.
void unpack_layer(int root_fd, int layer_fd, const std::string& what, const UnpackOptions& options,
                  std::vector<std::string>* warnings);

}  // namespace fnr
