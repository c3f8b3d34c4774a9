#include "shared/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "shared/fs_tree.h"
#include "shared/image_types.h"
#include "shared/unique_fd.h"

namespace fnr {
namespace {

// Beyond these a path cannot be used inside the container anyway; the depth
// bound also keeps the fd-per-level tree walks well under RLIMIT_NOFILE.
constexpr size_t kMaxPathBytes = 4095;
constexpr size_t kMaxDepth = 512;

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

constexpr mode_t kStrippedBits = S_ISUID | S_ISGID;

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;

std::string join(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out;
}

// Splits an archive path into components, dropping "." and empty ones (tar
// writers emit "./a//b/"). Returns nullopt with `why` set for a path that
// could leave the tree. An empty result is the root itself.
std::optional<std::vector<std::string>> split_path(std::string_view path, std::string* why) {
  if (path.empty()) {
    *why = "empty path";
    return std::nullopt;
  }
  if (path.front() == '/') {
    *why = "absolute path";
    return std::nullopt;
  }
  if (path.size() > kMaxPathBytes) {
    *why = "path longer than 4095 bytes";
    return std::nullopt;
  }
  if (path.find('\0') != std::string_view::npos) {
    *why = "NUL byte in path";
    return std::nullopt;
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, slash - start);
    if (part == "..") {
      *why = "'..' path component";
      return std::nullopt;
    }
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = slash + 1;
  }
  if (parts.size() > kMaxDepth) {
    *why = "nested more than 512 directories deep";
    return std::nullopt;
  }
  return parts;
}

class Unpacker {
 public:
  Unpacker(int root_fd, std::string what, const UnpackOptions& options,
           std::vector<std::string>* warnings)
      : root_fd_(root_fd),
        what_(std::move(what)),
        options_(options),
        chown_(options.keep_owners && geteuid() == 0),
        warnings_(warnings) {}

  void run(int layer_fd) {
    const ArchivePtr ar(archive_read_new(), archive_read_free);
    if (!ar) throw ImageError(what_ + ": out of memory");
    // Tar only: a layer is a tar by definition, and every extra format
    // parser is attack surface.
    archive_read_support_format_tar(ar.get());
    archive_read_support_format_gnutar(ar.get());
    archive_read_support_format_empty(ar.get());
    archive_read_support_filter_all(ar.get());
    if (archive_read_open_fd(ar.get(), layer_fd, 1 << 16) != ARCHIVE_OK) {
      throw ImageError(what_ + ": not a readable tar: " + archive_error(ar.get()));
    }
    for (;;) {
      archive_entry* entry = nullptr;
      const int rc = archive_read_next_header(ar.get(), &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc == ARCHIVE_RETRY) continue;
      if (rc == ARCHIVE_WARN) warn(what_ + ": " + archive_error(ar.get()));
      if (rc < ARCHIVE_WARN) {
        throw ImageError(what_ + ": corrupt tar" +
                         (last_entry_.empty() ? "" : " after entry '" + last_entry_ + "'") + ": " +
                         archive_error(ar.get()));
      }
      apply(ar.get(), entry);
    }
    finish_layer();
  }

 private:
  static std::string archive_error(archive* ar) {
    const char* s = archive_error_string(ar);
    return s != nullptr ? s : "unknown libarchive error";
  }

  void warn(std::string message) {
    if (warnings_ != nullptr) warnings_->push_back(std::move(message));
  }

  [[noreturn]] void refuse(std::string_view why) const {
    throw ImageError(what_ + ": entry '" + current_ + "': " + std::string(why));
  }

  [[noreturn]] void refuse_errno(std::string_view action) const {
    refuse(std::string(action) + ": " + std::strerror(errno));
  }

  void apply(archive* ar, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    // A UTF-8 pax name that does not fit the C locale only has its UTF-8 form.
    if (raw == nullptr) raw = archive_entry_pathname_utf8(entry);
    current_ = raw != nullptr ? raw : "";
    if (raw == nullptr) refuse("unreadable path name");
    last_entry_ = current_;

    std::string why;
    std::optional<std::vector<std::string>> parts = split_path(current_, &why);
    if (!parts) refuse(why);
    if (parts->empty()) return;  // "./": the root keeps the store's mode and owner

    const std::string& name = parts->back();
    if (options_.whiteouts && std::string_view(name).starts_with(kWhiteoutPrefix)) {
      apply_whiteout(*parts);
      return;
    }

    if (const char* link = archive_entry_hardlink(entry)) {
      write_hardlink(*parts, link);
      return;
    }
    const mode_t type = archive_entry_filetype(entry);
    switch (type) {
      case AE_IFREG:
        write_file(ar, entry, *parts);
        break;
      case AE_IFDIR:
        write_dir(entry, *parts);
        break;
      case AE_IFLNK:
        write_symlink(entry, *parts);
        break;
      case AE_IFCHR:
      case AE_IFBLK:
        refuse(std::string(type == AE_IFCHR ? "character" : "block") + " device " +
               std::to_string(major(archive_entry_rdev(entry))) + ":" +
               std::to_string(minor(archive_entry_rdev(entry))) +
               ": device nodes are not allowed in images");
      case AE_IFIFO:
      case AE_IFSOCK:
        warn(what_ + ": entry '" + current_ + "': skipped " +
             (type == AE_IFIFO ? "fifo" : "socket"));
        break;
      default:
        refuse("unsupported entry type");
    }
  }

  // Opens the directory made of parts[0, n), creating missing components
  // (0755, root) when `create`; nullopt when one is missing and !create.
  // Never follows a symlink: each step opens one component with O_NOFOLLOW.
  std::optional<UniqueFd> open_dir(const std::vector<std::string>& parts, size_t n, bool create) {
    UniqueFd dir(fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
    if (!dir) refuse_errno("dup");
    for (size_t i = 0; i < n; ++i) {
      const char* part = parts[i].c_str();
      int fd = openat(dir.get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT) {
        if (!create) return std::nullopt;
        if (mkdirat(dir.get(), part, 0700) != 0) refuse_errno("mkdir '" + join(parts, i + 1) + "'");
        fd = openat(dir.get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
          set_owner_mode(fd, 0, 0, 0755);
          mark_written(join(parts, i + 1));
        }
      }
      if (fd < 0) {
        const int err = errno;
        struct stat st {};
        if (fstatat(dir.get(), part, &st, AT_SYMLINK_NOFOLLOW) == 0) {
          if (S_ISLNK(st.st_mode)) {
            refuse("path goes through symlink '" + join(parts, i + 1) +
                   "' (writing through symlinks is refused)");
          }
          if (!S_ISDIR(st.st_mode)) refuse("'" + join(parts, i + 1) + "' is not a directory");
        }
        errno = err;
        refuse_errno("open '" + join(parts, i + 1) + "'");
      }
      dir.reset(fd);
    }
    return dir;
  }

  UniqueFd open_parent(const std::vector<std::string>& parts) {
    return std::move(*open_dir(parts, parts.size() - 1, true));
  }

  // Whatever a lower layer (or an earlier entry) left at `name` goes: the
  // new entry replaces it, as in an overlay.
  void clear_existing(int parent, const std::string& name) {
    std::string error;
    if (!remove_tree_at(parent, name, &error)) refuse("cannot replace existing entry: " + error);
  }

  void set_owner_mode(int fd, int64_t uid, int64_t gid, mode_t mode) {
    if (chown_ && fchown(fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
      refuse_errno("chown");
    }
    // After the chown, which would clear set-id bits anyway; they are
    // stripped regardless so no image ships a setuid binary.
    if (fchmod(fd, mode & 07777 & ~kStrippedBits) != 0) refuse_errno("chmod");
  }

  static timespec mtime_of(archive_entry* entry) {
    timespec ts{};
    ts.tv_sec = archive_entry_mtime(entry);
    ts.tv_nsec = archive_entry_mtime_nsec(entry);
    return ts;
  }

  void mark_written(const std::string& path) {
    // Ancestors too: an opaque directory must keep the path down to them.
    std::string p = path;
    while (written_.insert(p).second) {
      const size_t slash = p.rfind('/');
      if (slash == std::string::npos) break;
      p.resize(slash);
    }
  }

  void write_file(archive* ar, archive_entry* entry, const std::vector<std::string>& parts) {
    const UniqueFd parent = open_parent(parts);
    const std::string& name = parts.back();
    clear_existing(parent.get(), name);
    const UniqueFd fd(openat(parent.get(), name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) refuse_errno("create");
    off_t end = 0;
    for (;;) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      const int rc = archive_read_data_block(ar, &buf, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) refuse("reading data: " + archive_error(ar));
      // Sparse entries arrive as blocks at offsets; the holes stay holes.
      const char* p = static_cast<const char*>(buf);
      off_t at = static_cast<off_t>(offset);
      while (size > 0) {
        const ssize_t n = pwrite(fd.get(), p, size, at);
        if (n < 0) {
          if (errno == EINTR) continue;
          refuse_errno("write");
        }
        p += n;
        at += n;
        size -= static_cast<size_t>(n);
      }
      end = std::max(end, at);
    }
    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > end) {
      if (ftruncate(fd.get(), static_cast<off_t>(archive_entry_size(entry))) != 0) {
        refuse_errno("truncate");
      }
    }
    set_owner_mode(fd.get(), archive_entry_uid(entry), archive_entry_gid(entry),
                   archive_entry_perm(entry));
    const timespec times[2] = {mtime_of(entry), mtime_of(entry)};
    futimens(fd.get(), times);
    mark_written(join(parts, parts.size()));
  }

  void write_dir(archive_entry* entry, const std::vector<std::string>& parts) {
    const UniqueFd parent = open_parent(parts);
    const std::string& name = parts.back();
    struct stat st {};
    const bool exists = fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    // An existing directory merges with the new one (lower content stays
    // unless an opaque marker says otherwise); anything else is replaced.
    if (!exists || !S_ISDIR(st.st_mode)) {
      if (exists) clear_existing(parent.get(), name);
      if (mkdirat(parent.get(), name.c_str(), 0700) != 0) refuse_errno("mkdir");
    }
    const UniqueFd fd(
        openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) refuse_errno("open directory");
    set_owner_mode(fd.get(), archive_entry_uid(entry), archive_entry_gid(entry),
                   archive_entry_perm(entry));
    const std::string path = join(parts, parts.size());
    mark_written(path);
    // Writing children bumps a directory's mtime, so times are set last.
    dir_times_.emplace_back(parts, mtime_of(entry));
  }

  void write_symlink(archive_entry* entry, const std::vector<std::string>& parts) {
    const char* target = archive_entry_symlink(entry);
    if (target == nullptr) target = archive_entry_symlink_utf8(entry);
    if (target == nullptr || *target == '\0') refuse("symlink without a target");
    const UniqueFd parent = open_parent(parts);
    const std::string& name = parts.back();
    clear_existing(parent.get(), name);
    if (symlinkat(target, parent.get(), name.c_str()) != 0) refuse_errno("symlink");
    if (chown_ &&
        fchownat(parent.get(), name.c_str(), static_cast<uid_t>(archive_entry_uid(entry)),
                 static_cast<gid_t>(archive_entry_gid(entry)), AT_SYMLINK_NOFOLLOW) != 0) {
      refuse_errno("chown");
    }
    const timespec times[2] = {mtime_of(entry), mtime_of(entry)};
    utimensat(parent.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    mark_written(join(parts, parts.size()));
  }

  void write_hardlink(const std::vector<std::string>& parts, std::string_view target) {
    std::string why;
    const std::optional<std::vector<std::string>> tparts = split_path(target, &why);
    if (!tparts || tparts->empty()) {
      refuse("hard link target '" + std::string(target) + "' escapes the root (" +
             (tparts ? "the root itself" : why) + ")");
    }
    if (*tparts == parts) return;
    // Resolved like any path here: never through a symlink, so the target
    // is a file inside the tree.
    const std::optional<UniqueFd> tparent = open_dir(*tparts, tparts->size() - 1, false);
    struct stat st {};
    if (!tparent ||
        fstatat(tparent->get(), tparts->back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      refuse("hard link target '" + std::string(target) + "' does not exist");
    }
    if (S_ISDIR(st.st_mode))
      refuse("hard link target '" + std::string(target) + "' is a directory");
    const UniqueFd parent = open_parent(parts);
    const std::string& name = parts.back();
    clear_existing(parent.get(), name);
    // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
    if (linkat(tparent->get(), tparts->back().c_str(), parent.get(), name.c_str(), 0) != 0) {
      refuse_errno("hard link to '" + std::string(target) + "'");
    }
    mark_written(join(parts, parts.size()));
  }

  void apply_whiteout(const std::vector<std::string>& parts) {
    const std::string& name = parts.back();
    if (name == kOpaqueMarker) {
      // The directory exists in this layer, whatever lower layers had.
      std::vector<std::string> dir(parts.begin(), parts.end() - 1);
      if (!dir.empty()) {
        (void)open_dir(dir, dir.size(), true);
        mark_written(join(dir, dir.size()));
      }
      opaque_dirs_.push_back(std::move(dir));
      return;
    }
    // Other ".wh..wh." names are aufs bookkeeping (hard link dirs): not content.
    if (std::string_view(name).starts_with(".wh..wh.")) return;
    const std::string victim = name.substr(kWhiteoutPrefix.size());
    if (victim.empty() || victim == "." || victim == "..") refuse("malformed whiteout");
    std::vector<std::string> victim_parts(parts.begin(), parts.end() - 1);
    victim_parts.push_back(victim);
    // A whiteout hides lower layers only, never what this layer wrote.
    if (written_.contains(join(victim_parts, victim_parts.size()))) return;
    const std::optional<UniqueFd> parent = open_dir(parts, parts.size() - 1, false);
    if (!parent) return;  // nothing below to hide
    clear_existing(parent->get(), victim);
  }

  // Opaque markers may come before or after the directory's new content in
  // the tar, so they are applied once the layer is complete: everything in
  // the directory this layer did not write goes.
  void prune_lower(int dirfd, const std::string& path) {
    const int dup_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup_fd >= 0 ? fdopendir(dup_fd) : nullptr;
    if (d == nullptr) {
      if (dup_fd >= 0) ::close(dup_fd);
      refuse_errno("opaque directory '" + path + "'");
    }
    std::vector<std::string> names;
    while (const dirent* e = readdir(d)) {
      const std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    closedir(d);
    for (const std::string& n : names) {
      const std::string child = path.empty() ? n : path + "/" + n;
      if (!written_.contains(child)) {
        clear_existing(dirfd, n);
        continue;
      }
      const UniqueFd sub(openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub) prune_lower(sub.get(), child);
    }
  }

  void finish_layer() {
    for (const std::vector<std::string>& dir : opaque_dirs_) {
      current_ = join(dir, dir.size()) + (dir.empty() ? "" : "/") + std::string(kOpaqueMarker);
      const std::optional<UniqueFd> fd = open_dir(dir, dir.size(), false);
      if (fd) prune_lower(fd->get(), join(dir, dir.size()));
    }
    // Innermost first: setting a child's times does not touch its parent,
    // but creating it did, and that happened before.
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
      const std::vector<std::string>& parts = it->first;
      const std::optional<UniqueFd> parent = open_dir(parts, parts.size() - 1, false);
      if (!parent) continue;
      const timespec times[2] = {it->second, it->second};
      utimensat(parent->get(), parts.back().c_str(), times, AT_SYMLINK_NOFOLLOW);
    }
  }

  const int root_fd_;
  const std::string what_;
  const UnpackOptions options_;
  const bool chown_;
  std::vector<std::string>* const warnings_;

  std::string current_;                      // the entry being applied, for messages
  std::string last_entry_;                   // the last entry read, to place a corrupt header
  std::unordered_set<std::string> written_;  // paths this layer created (and their ancestors)
  std::vector<std::vector<std::string>> opaque_dirs_;
  std::vector<std::pair<std::vector<std::string>, timespec>> dir_times_;
};

}  // namespace

void unpack_layer(int root_fd, int layer_fd, const std::string& what, const UnpackOptions& options,
                  std::vector<std::string>* warnings) {
  Unpacker(root_fd, what, options, warnings).run(layer_fd);
}

}  // namespace fnr
