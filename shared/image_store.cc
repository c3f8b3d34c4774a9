#include "shared/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "shared/fs_tree.h"
#include "shared/image_ref.h"
#include "shared/layer_unpack.h"
#include "shared/oci_import.h"
#include "shared/sha256.h"
#include "shared/unique_fd.h"

namespace fnr {
namespace {

using nlohmann::json;

constexpr const char* kRefsDir = "refs";
constexpr const char* kConfigsDir = "configs";
constexpr const char* kRootfsDir = "rootfs";
constexpr const char* kTmpDir = "tmp";
constexpr const char* kLockFile = ".lock";
constexpr std::string_view kJsonSuffix = ".json";

std::string errno_text() { return std::strerror(errno); }

UniqueFd open_dir(const std::string& path) {
  return UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

// The whole of a small store file; nullopt (errno set) if unreadable.
std::optional<std::string> read_file(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Readers see the old file or the new one, never a torn one; fsync first so
// a crash cannot leave an empty ref behind a successful rename.
void write_file_atomic(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string tmp = dir + "/." + name + ".tmp";
  const std::string path = dir + "/" + name;
  unlink(tmp.c_str());
  {
    const UniqueFd fd(
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) throw ImageError(tmp + ": " + errno_text());
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const std::string error = tmp + ": " + errno_text();
        unlink(tmp.c_str());
        throw ImageError(error);
      }
      done += static_cast<size_t>(n);
    }
    if (fsync(fd.get()) != 0) {
      const std::string error = tmp + ": fsync: " + errno_text();
      unlink(tmp.c_str());
      throw ImageError(error);
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string error = path + ": " + errno_text();
    unlink(tmp.c_str());
    throw ImageError(error);
  }
}

void fsync_dir(const std::string& path) {
  const UniqueFd fd = open_dir(path);
  if (fd) fsync(fd.get());
}

void make_dir(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    throw ImageError("image store: cannot create " + path + ": " + errno_text());
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw ImageError("image store: " + path + " is not a directory");
  }
}

// Serialises the store's writers (import, remove) across processes.
class StoreLock {
 public:
  explicit StoreLock(const std::string& root) {
    const std::string path = root + "/" + kLockFile;
    fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd_) throw ImageError("image store: " + path + ": " + errno_text());
    while (flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw ImageError("image store: lock " + path + ": " + errno_text());
    }
  }  // the lock goes with the fd

 private:
  UniqueFd fd_;
};

// A directory under tmp/ that is removed, with everything in it, however
// the import ends; release() hands over what was moved out of it.
class Staging {
 public:
  explicit Staging(const std::string& tmp_dir) {
    std::string templ = tmp_dir + "/import-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      throw ImageError("image store: cannot create a directory in " + tmp_dir + ": " +
                       errno_text());
    }
    path_ = templ;
    parent_ = open_dir(tmp_dir);
    name_ = path_.substr(tmp_dir.size() + 1);
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {
    std::string error;
    if (parent_) remove_tree_at(parent_.get(), name_, &error);
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string name_;
  UniqueFd parent_;
};

json config_json(const ImageConfig& c, uint64_t size_bytes) {
  return {{"config",
           {{"Entrypoint", c.entrypoint},
            {"Cmd", c.cmd},
            {"Env", c.env},
            {"WorkingDir", c.working_dir},
            {"User", c.user}}},
          {"size_bytes", size_bytes}};
}

// Our own files, but a crash or a hand edit can still break them.
bool parse_config_json(const std::string& text, ImageConfig* c, uint64_t* size_bytes) {
  try {
    const json j = json::parse(text);
    const json& cfg = j.at("config");
    c->entrypoint = cfg.at("Entrypoint").get<std::vector<std::string>>();
    c->cmd = cfg.at("Cmd").get<std::vector<std::string>>();
    c->env = cfg.at("Env").get<std::vector<std::string>>();
    c->working_dir = cfg.at("WorkingDir").get<std::string>();
    c->user = cfg.at("User").get<std::string>();
    *size_bytes = j.at("size_bytes").get<uint64_t>();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

bool parse_ref_json(const std::string& text, std::string* ref, std::string* digest) {
  try {
    const json j = json::parse(text);
    *ref = j.at("ref").get<std::string>();
    *digest = j.at("digest").get<std::string>();
    return is_sha256_digest(*digest);
  } catch (const json::exception&) {
    return false;
  }
}

// The sandbox mounts proc, a minimal dev and a tmpfs here; images built
// FROM scratch often lack them. A non-directory in their place (a hostile
// symlink to /, say) is replaced: a mount point must be a real directory.
void ensure_mount_points(int root_fd, std::vector<std::string>* warnings) {
  struct Point {
    const char* name;
    mode_t mode;
  };
  for (const Point p : {Point{"proc", 0755}, Point{"dev", 0755}, Point{"tmp", 01777}}) {
    struct stat st {};
    if (fstatat(root_fd, p.name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) continue;
      if (warnings != nullptr) {
        warnings->push_back(std::string("/") + p.name +
                            " is not a directory in the image; replaced by an empty one");
      }
      std::string error;
      if (!remove_tree_at(root_fd, p.name, &error)) throw ImageError("rootfs: " + error);
    }
    if (mkdirat(root_fd, p.name, 0700) != 0) {
      throw ImageError(std::string("rootfs: mkdir /") + p.name + ": " + errno_text());
    }
    // Explicitly, as mkdir's mode went through the umask.
    const UniqueFd fd(openat(root_fd, p.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd || fchmod(fd.get(), p.mode) != 0) {
      throw ImageError(std::string("rootfs: chmod /") + p.name + ": " + errno_text());
    }
  }
}

ImageRef parse_or_throw(std::string_view text) {
  std::string error;
  std::optional<ImageRef> ref = parse_image_ref(text, &error);
  if (!ref) throw ImageError(error);
  return std::move(*ref);
}

}  // namespace

ImageStore::ImageStore(std::string root) {
  if (root.empty()) throw ImageError("image store: no directory given");
  std::error_code ec;
  root_ = std::filesystem::absolute(root, ec).lexically_normal().string();
  if (ec) throw ImageError("image store: " + root + ": " + ec.message());
  if (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  // Parents as mkdir -p makes them; the store itself private to root, as
  // it holds every function's files.
  const std::filesystem::path parent = std::filesystem::path(root_).parent_path();
  std::filesystem::create_directories(parent, ec);
  if (ec) throw ImageError("image store: cannot create " + parent.string() + ": " + ec.message());
  make_dir(root_, 0700);
  for (const char* sub : {kRefsDir, kConfigsDir, kRootfsDir, kTmpDir}) {
    make_dir(root_ + "/" + sub, 0700);
  }
}

StoredImage ImageStore::import(const std::string& path, const std::string& ref_text,
                               std::vector<std::string>* warnings) {
  const ImageRef ref = parse_or_throw(ref_text);
  if (ref.by_digest()) {
    throw ImageError("cannot import as '" + ref_text + "': name it NAME[:TAG], not by digest");
  }
  const StoreLock lock(root_);
  // Under the lock nobody else is importing: whatever is in tmp/ is left
  // over from a crash.
  clean_tmp();
  const Staging staging(root_ + "/" + kTmpDir);
  const std::string scratch = staging.path() + "/source";
  make_dir(scratch, 0700);
  const ImageSource source = ImageSource::open(path, scratch, warnings, {ref.canonical(), ref.tag});

  const std::string digest = source.manifest_digest();
  const std::string hex(digest_hex(digest));
  const std::string rootfs = root_ + "/" + kRootfsDir + "/" + hex;
  const std::string config_dir = root_ + "/" + kConfigsDir;
  uint64_t size_bytes = 0;
  ImageConfig existing_config;
  struct stat st {};
  const bool have_rootfs = lstat(rootfs.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  const std::optional<std::string> existing = read_file(config_dir + "/" + hex + ".json");
  if (!have_rootfs || !existing || !parse_config_json(*existing, &existing_config, &size_bytes)) {
    if (!have_rootfs) {
      const std::string staged = staging.path() + "/rootfs";
      make_dir(staged, 0700);
      const UniqueFd root_fd = open_dir(staged);
      if (!root_fd) throw ImageError(staged + ": " + errno_text());
      for (size_t i = 0; i < source.layer_count(); ++i) {
        const UniqueFd layer = source.open_layer(i);
        unpack_layer(root_fd.get(), layer.get(), path + ": " + source.layer_name(i), {}, warnings);
      }
      ensure_mount_points(root_fd.get(), warnings);
      if (fchmod(root_fd.get(), 0755) != 0) throw ImageError(staged + ": chmod: " + errno_text());
      size_bytes = tree_usage_at(root_fd.get());
      // Everything on disk before the name says the tree is complete.
      if (syncfs(root_fd.get()) != 0) throw ImageError(staged + ": syncfs: " + errno_text());
      if (rename(staged.c_str(), rootfs.c_str()) != 0) {
        throw ImageError("image store: rename to " + rootfs + ": " + errno_text());
      }
      fsync_dir(root_ + "/" + kRootfsDir);
    } else {
      // Content left by an import that died before writing its config.
      const UniqueFd root_fd = open_dir(rootfs);
      size_bytes = root_fd ? tree_usage_at(root_fd.get()) : 0;
    }
  }
  const std::string refs_dir = root_ + "/" + kRefsDir;
  const std::string ref_file = ref_file_name(ref) + std::string(kJsonSuffix);
  std::string old_ref;
  std::string old_digest;
  const std::optional<std::string> old = read_file(refs_dir + "/" + ref_file);
  const bool had_old = old && parse_ref_json(*old, &old_ref, &old_digest);
  try {
    write_file_atomic(config_dir, hex + ".json", config_json(source.config(), size_bytes).dump());
    fsync_dir(config_dir);
    write_file_atomic(refs_dir, ref_file,
                      json{{"ref", ref.canonical()}, {"digest", digest}}.dump());
    fsync_dir(refs_dir);
  } catch (const ImageError&) {
    // Disk full, say: content no ref names must not outlive the import.
    try {
      remove_content_if_unused(digest);
    } catch (const ImageError&) {
      // The original error is the one worth reporting.
    }
    throw;
  }
  // Re-importing a tag moves it; what it named before goes if unused.
  if (had_old && old_digest != digest) remove_content_if_unused(old_digest);

  return {.ref = ref.canonical(),
          .digest = digest,
          .rootfs = rootfs,
          .config = source.config(),
          .size_bytes = size_bytes};
}

std::optional<StoredImage> ImageStore::load(const std::string& ref, const std::string& digest,
                                            std::string* why) const {
  const std::string hex(digest_hex(digest));
  StoredImage image;
  image.ref = ref;
  image.digest = digest;
  image.rootfs = root_ + "/" + kRootfsDir + "/" + hex;
  const std::optional<std::string> text =
      read_file(root_ + "/" + kConfigsDir + "/" + hex + ".json");
  if (!text) {
    *why = "no config";
    return std::nullopt;
  }
  if (!parse_config_json(*text, &image.config, &image.size_bytes)) {
    *why = "unreadable config " + root_ + "/" + kConfigsDir + "/" + hex + ".json";
    return std::nullopt;
  }
  struct stat st {};
  if (lstat(image.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *why = "no rootfs";
    return std::nullopt;
  }
  return image;
}

std::optional<StoredImage> ImageStore::resolve(std::string_view text, std::string* error) const {
  std::string parse_error;
  const std::optional<ImageRef> ref = parse_image_ref(text, &parse_error);
  if (!ref) {
    if (error != nullptr) *error = parse_error;
    return std::nullopt;
  }
  std::string digest = ref->digest;
  if (!ref->by_digest()) {
    const std::optional<std::string> entry =
        read_file(root_ + "/" + kRefsDir + "/" + ref_file_name(*ref) + std::string(kJsonSuffix));
    std::string stored_ref;
    if (!entry || !parse_ref_json(*entry, &stored_ref, &digest)) {
      if (error != nullptr) *error = "image not found: " + std::string(text);
      return std::nullopt;
    }
  }
  std::string why;
  std::optional<StoredImage> image = load(ref->canonical(), digest, &why);
  if (!image && error != nullptr) *error = "image not found: " + std::string(text);
  return image;
}

std::vector<ImageStore::RefEntry> ImageStore::read_refs() const {
  std::vector<RefEntry> out;
  const std::string dir = root_ + "/" + kRefsDir;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) throw ImageError("image store: " + dir + ": " + errno_text());
  while (const dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    if (name.starts_with(".") || !name.ends_with(kJsonSuffix)) continue;
    const std::optional<std::string> text = read_file(dir + "/" + std::string(name));
    RefEntry entry;
    if (text && parse_ref_json(*text, &entry.ref, &entry.digest)) out.push_back(std::move(entry));
  }
  closedir(d);
  std::sort(out.begin(), out.end(),
            [](const RefEntry& a, const RefEntry& b) { return a.ref < b.ref; });
  return out;
}

std::vector<StoredImage> ImageStore::list() const {
  std::vector<StoredImage> out;
  for (const RefEntry& e : read_refs()) {
    std::string why;
    if (std::optional<StoredImage> image = load(e.ref, e.digest, &why)) {
      out.push_back(std::move(*image));
    }
  }
  return out;
}

bool ImageStore::remove(std::string_view text) {
  const ImageRef ref = parse_or_throw(text);
  const StoreLock lock(root_);
  const std::string refs_dir = root_ + "/" + kRefsDir;
  std::vector<std::string> digests;
  bool removed = false;
  if (!ref.by_digest()) {
    const std::string file = refs_dir + "/" + ref_file_name(ref) + std::string(kJsonSuffix);
    const std::optional<std::string> entry = read_file(file);
    std::string stored_ref;
    std::string digest;
    if (!entry) return false;
    if (unlink(file.c_str()) != 0) throw ImageError("image store: " + file + ": " + errno_text());
    removed = true;
    if (parse_ref_json(*entry, &stored_ref, &digest)) digests.push_back(digest);
  } else {
    for (const RefEntry& e : read_refs()) {
      if (e.digest != ref.digest) continue;
      const std::optional<ImageRef> stored = parse_image_ref(e.ref, nullptr);
      if (!stored || (!ref.name.empty() && stored->name != ref.name)) continue;
      const std::string file = refs_dir + "/" + ref_file_name(*stored) + std::string(kJsonSuffix);
      if (unlink(file.c_str()) != 0) throw ImageError("image store: " + file + ": " + errno_text());
      removed = true;
    }
    // A bare digest also reaches content no ref names any more.
    struct stat st {};
    const std::string rootfs = root_ + "/" + kRootfsDir + "/" + std::string(digest_hex(ref.digest));
    if (ref.name.empty() && !removed && lstat(rootfs.c_str(), &st) == 0) removed = true;
    digests.push_back(ref.digest);
  }
  fsync_dir(refs_dir);
  for (const std::string& digest : digests) remove_content_if_unused(digest);
  return removed;
}

void ImageStore::remove_content_if_unused(const std::string& digest) const {
  for (const RefEntry& e : read_refs()) {
    if (e.digest == digest) return;
  }
  const std::string hex(digest_hex(digest));
  const std::string tmp = root_ + "/" + kTmpDir;
  // Renamed away first, so the image vanishes at once for resolve(); the
  // slow part then works on a name nobody looks up. A crash in between
  // leaves a tmp/ entry the next import cleans.
  const std::string rootfs = root_ + "/" + kRootfsDir + "/" + hex;
  const std::string trash = tmp + "/remove-" + hex;
  std::string error;
  const UniqueFd tmp_fd = open_dir(tmp);
  if (!tmp_fd) throw ImageError("image store: " + tmp + ": " + errno_text());
  if (!remove_tree_at(tmp_fd.get(), "remove-" + hex, &error)) {
    throw ImageError("image store: " + tmp + "/" + error);
  }
  if (rename(rootfs.c_str(), trash.c_str()) != 0 && errno != ENOENT) {
    throw ImageError("image store: rename " + rootfs + ": " + errno_text());
  }
  const std::string config = root_ + "/" + kConfigsDir + "/" + hex + ".json";
  if (unlink(config.c_str()) != 0 && errno != ENOENT) {
    throw ImageError("image store: " + config + ": " + errno_text());
  }
  if (!remove_tree_at(tmp_fd.get(), "remove-" + hex, &error)) {
    throw ImageError("image store: " + tmp + "/" + error);
  }
}

void ImageStore::clean_tmp() const {
  const std::string tmp = root_ + "/" + kTmpDir;
  const UniqueFd fd = open_dir(tmp);
  if (!fd) throw ImageError("image store: " + tmp + ": " + errno_text());
  std::vector<std::string> names;
  DIR* d = opendir(tmp.c_str());
  if (d == nullptr) throw ImageError("image store: " + tmp + ": " + errno_text());
  while (const dirent* e = readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  closedir(d);
  for (const std::string& n : names) {
    std::string error;
    if (!remove_tree_at(fd.get(), n, &error)) {
      throw ImageError("image store: cannot clean " + tmp + "/" + error);
    }
  }
}

}  // namespace fnr
