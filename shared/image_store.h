#pragma once
// Content-addressed store of unpacked container images. On disk, under
// root (0700):
//
//   refs/<escaped NAME:TAG>.json   {"ref": "NAME:TAG", "digest": "sha256:..."}
//   configs/<hex>.json             {"config": {Entrypoint, Cmd, Env, WorkingDir,
//                                   User}, "size_bytes": N}
//   rootfs/<hex>/                  the unpacked layers; never modified once there
//   tmp/                           imports in progress, removals being finished
//   .lock                          flock serialising import and remove
//
// <hex> is the manifest digest. An import unpacks into tmp/ and renames the
// finished tree into rootfs/, so a rootfs that exists is complete, and a
// failed import leaves nothing behind. resolve() takes no lock: every file
// it reads is replaced by rename.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/image_types.h"

namespace fnr {

struct StoredImage {
  std::string ref;     // canonical: NAME:TAG, or NAME@sha256:... when resolved by digest
  std::string digest;  // sha256:... of the manifest
  std::string rootfs;  // absolute directory, to be bind-mounted read-only
  ImageConfig config;
  uint64_t size_bytes = 0;  // apparent size of the rootfs's files
};

class ImageStore {
 public:
  // `root` (e.g. /var/lib/fn-runner/images) is created if missing, 0700.
  // Throws ImageError when it cannot be.
  explicit ImageStore(std::string root);

  // Imports the image at `path` (see ImageSource: OCI layout directory,
  // oci-archive tar, docker save tar, with optional transport prefix and
  // :REFERENCE) under `ref` (NAME[:TAG]), replacing what `ref` named before.
  // Content already in the store is reused, not unpacked again. Throws
  // ImageError naming the blob or archive entry at fault. Non-fatal
  // oddities go to `warnings` when it is not null.
  StoredImage import(const std::string& path, const std::string& ref,
                     std::vector<std::string>* warnings = nullptr);

  // NAME:TAG, NAME (= NAME:latest), NAME@sha256:HEX or sha256:HEX. nullopt
  // with `error` ("image not found: REF", or why REF is malformed) when
  // unknown. A few small reads; called on every cold start.
  std::optional<StoredImage> resolve(std::string_view ref, std::string* error) const;

  // Every ref, sorted by ref.
  [[nodiscard]] std::vector<StoredImage> list() const;

  // Removes `ref` (NAME[:TAG]; a digest form removes every ref of that NAME
  // pinned to it, or every ref at all for a bare digest), and the content
  // once no ref uses it. False if there was nothing to remove. Throws
  // ImageError on a malformed ref or a filesystem failure.
  bool remove(std::string_view ref);

  [[nodiscard]] const std::string& root() const { return root_; }

 private:
  struct RefEntry {
    std::string ref;
    std::string digest;
  };

  [[nodiscard]] std::vector<RefEntry> read_refs() const;
  [[nodiscard]] std::optional<StoredImage> load(const std::string& ref, const std::string& digest,
                                                std::string* why) const;
  void clean_tmp() const;
  void remove_content_if_unused(const std::string& digest) const;

  std::string root_;
};

}  // namespace fnr
