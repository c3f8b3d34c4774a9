#pragma once
// Builds container images for tests, without a container engine: OCI image
// layouts (what `skopeo copy ... oci:DIR:TAG` writes), tars of them
// (oci-archive) and `docker save` archives, from layers described entry by
// entry. Paths are written into the tars verbatim, so hostile entries
// ("../x", "/etc/x", links out of the root) are just paths. Throws
// std::runtime_error on failure.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fnr::test_support {

struct LayerEntry {
  enum class Type {
    kFile,
    kDir,
    kSymlink,
    kHardlink,
    kCharDevice,
    kBlockDevice,
    kFifo,
  };
  Type type = Type::kFile;
  std::string path;
  std::string content;  // kFile
  std::string target;   // kSymlink, kHardlink
  mode_t mode = 0644;   // permission bits, set-id and sticky included
  int64_t uid = 0;
  int64_t gid = 0;
  unsigned dev_major = 0;
  unsigned dev_minor = 0;

  static LayerEntry file(std::string path, std::string content, mode_t mode = 0644);
  // Content and permission bits of a file on this host (e.g. /bin/busybox).
  static LayerEntry host_file(std::string path, const std::string& host_path);
  static LayerEntry dir(std::string path, mode_t mode = 0755);
  static LayerEntry symlink(std::string path, std::string target);
  static LayerEntry hardlink(std::string path, std::string target);
  // ".wh.NAME" beside NAME: deletes NAME of the lower layers.
  static LayerEntry whiteout(std::string_view path);
  // "DIR/.wh..wh..opq": hides what lower layers put in DIR.
  static LayerEntry opaque(std::string_view dir);
  static LayerEntry char_device(std::string path, unsigned major, unsigned minor);
  static LayerEntry block_device(std::string path, unsigned major, unsigned minor);
  static LayerEntry fifo(std::string path);

  LayerEntry& owned_by(int64_t u, int64_t g) {
    uid = u;
    gid = g;
    return *this;
  }
};

enum class Compression { kNone, kGzip, kZstd };

struct Layer {
  std::vector<LayerEntry> entries;
  Compression compression = Compression::kGzip;
};

struct ImageSpec {
  std::vector<Layer> layers;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
  std::string os = "linux";
  std::string architecture = "amd64";
  // org.opencontainers.image.ref.name of the index.json entry; "" for none.
  std::string ref_name;
  // Put os/architecture on the index.json entry as well (multi-image layouts).
  bool platform_in_index = false;
};

struct BuiltImage {
  std::string manifest_digest;  // sha256:...
  std::string config_digest;
  std::vector<std::string> layer_digests;  // of the blobs as stored (compressed or not)
  std::vector<std::string> diff_ids;       // of the uncompressed tars
};

// The layer as a tar (compressed as asked), in memory.
std::string layer_tar(const Layer& layer);

// bin/busybox copied from the host (busybox-static: it runs in any root)
// and bin/<applet> symlinks to it for sh, echo, cat, env, ls, sleep, true and
// false: a minimal userland for images that must really run.
Layer busybox_layer(const std::string& host_busybox = "/bin/busybox");

// An OCI image layout directory; each add() writes the image's blobs and
// appends its manifest to index.json.
class OciLayoutBuilder {
 public:
  explicit OciLayoutBuilder(std::string dir);  // created if missing
  BuiltImage add(const ImageSpec& spec);
  [[nodiscard]] std::string blob_path(std::string_view digest) const;
  [[nodiscard]] const std::string& dir() const { return dir_; }

 private:
  std::string write_blob(std::string_view content);
  std::string dir_;
  std::vector<std::string> index_entries_;  // JSON descriptors
};

// A tar of everything under `dir` (an oci-archive when `dir` is a layout).
void write_tar_of_dir(const std::string& dir, const std::string& tar_path);

// A `docker save` archive of one image: manifest.json, <config hex>.json,
// <n>/layer.tar (uncompressed, as Docker < 25 writes them), repositories.
BuiltImage write_docker_archive(const std::string& tar_path, const ImageSpec& spec,
                                const std::string& repo_tag);

// Helpers for tests.
void write_file(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);
// A fresh directory under the test temp dir, removed by remove_all().
std::string make_temp_dir(const std::string& prefix);
void remove_all(const std::string& path);

}  // namespace fnr::test_support
