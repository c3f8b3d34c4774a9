#pragma once
// Whole-tree operations on directories the image store owns, done relative to
// directory fds and never through a symlink, so a hostile image cannot turn a
// cleanup into a deletion outside the store.
#include <cstdint>
#include <string>

namespace fnr {

// Removes `name` under `dirfd` (rm -rf, not following symlinks). A missing
// `name` is fine. Returns false with `error` set ("PATH: why") on failure,
// after removing what it could.
bool remove_tree_at(int dirfd, const std::string& name, std::string* error);

// Apparent size of the regular files under `dirfd` (each inode counted once,
// so hard links do not count twice). Unreadable parts count as 0.
uint64_t tree_usage_at(int dirfd);

}  // namespace fnr
