#include "shared/fs_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "shared/unique_fd.h"

namespace fnr {
namespace {

// Directory entries other than . and .., read in one go so the stream is
// closed before recursing: one fd per level of depth, no more.
bool read_names(int dirfd, std::vector<std::string>* names) {
  const int dup_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return false;
  DIR* dir = fdopendir(dup_fd);
  if (dir == nullptr) {
    ::close(dup_fd);
    return false;
  }
  rewinddir(dir);
  while (const dirent* e = readdir(dir)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names->emplace_back(n);
  }
  closedir(dir);
  return true;
}

bool remove_children(int dirfd, const std::string& path, std::string* error) {
  std::vector<std::string> names;
  if (!read_names(dirfd, &names)) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = true;
  for (const std::string& n : names) ok = remove_tree_at(dirfd, n, error) && ok;
  return ok;
}

void usage_walk(int dirfd, std::set<std::pair<dev_t, ino_t>>* seen, uint64_t* total) {
  std::vector<std::string> names;
  if (!read_names(dirfd, &names)) return;
  for (const std::string& n : names) {
    struct stat st {};
    if (fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      if (st.st_nlink == 1 || seen->emplace(st.st_dev, st.st_ino).second) {
        *total += static_cast<uint64_t>(st.st_size);
      }
    } else if (S_ISDIR(st.st_mode)) {
      const UniqueFd child(
          openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (child) usage_walk(child.get(), seen, total);
    }
  }
}

}  // namespace

bool remove_tree_at(int dirfd, const std::string& name, std::string* error) {
  if (unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return true;
  if (errno != EISDIR) {
    *error = name + ": " + std::strerror(errno);
    return false;
  }
  const UniqueFd child(
      openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!child) {
    *error = name + ": " + std::strerror(errno);
    return false;
  }
  // The image may have left a directory without write or search permission;
  // root ignores that, but a non-root test run does not.
  fchmod(child.get(), 0700);
  if (!remove_children(child.get(), name, error)) return false;
  if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    *error = name + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

uint64_t tree_usage_at(int dirfd) {
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = 0;
  usage_walk(dirfd, &seen, &total);
  return total;
}

}  // namespace fnr
