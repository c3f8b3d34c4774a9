#include "shared/oci_import.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "shared/layer_unpack.h"
#include "shared/sha256.h"

namespace fnr {
namespace {

using nlohmann::json;

// Manifests and configs are small; a bigger "JSON" blob is hostile or broken.
constexpr size_t kMaxJsonBytes = 16 << 20;
constexpr int kMaxIndexDepth = 4;

constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr std::string_view kContainerdNameAnnotation = "io.containerd.image.name";
constexpr std::string_view kOciIndexType = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerListType =
    "application/vnd.docker.distribution.manifest.list.v2+json";

std::string_view host_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__)
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv)
  return "riscv64";
#else
  return "unknown";
#endif
}

std::string errno_text() { return std::strerror(errno); }

// Opens `rel` inside `root` as a regular file. RESOLVE_IN_ROOT treats the
// root as "/" for every symlink and "..", so a layout (or the manifest.json
// of a docker archive) cannot make us read a file outside it; O_NONBLOCK
// keeps a fifo planted in the layout from hanging the open.
UniqueFd open_in_root(int root, const std::string& rel, const std::string& what) {
  open_how how{};
  how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how)));
  if (!fd) {
    if (errno == ENOSYS)
      throw ImageError(what + ": openat2 is not supported (Linux >= 5.6 needed)");
    throw ImageError(what + ": " + (errno == ENOENT ? std::string("missing") : errno_text()));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) throw ImageError(what + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) throw ImageError(what + ": not a regular file");
  fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

bool exists_in_root(int root, const std::string& rel) {
  struct stat st {};
  return fstatat(root, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

std::string read_all(int fd, const std::string& what) {
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ImageError(what + ": read: " + errno_text());
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxJsonBytes) throw ImageError(what + ": larger than 16 MiB");
  }
}

json parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw ImageError(what + ": invalid JSON: " + e.what());
  }
}

std::string read_json_file(int root, const std::string& rel, const std::string& what) {
  const UniqueFd fd = open_in_root(root, rel, what);
  return read_all(fd.get(), what);
}

// Reads a JSON field, turning a type mismatch into an error naming the file.
template <typename T>
T get_field(const json& j, std::string_view key, const std::string& what, T fallback = T{}) {
  if (!j.is_object()) throw ImageError(what + ": expected a JSON object");
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw ImageError(what + ": field '" + std::string(key) + "' has the wrong type");
  }
}

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = -1;
  json annotations;
  json platform;
};

Descriptor parse_descriptor(const json& j, const std::string& what) {
  Descriptor d;
  d.media_type = get_field<std::string>(j, "mediaType", what);
  d.digest = get_field<std::string>(j, "digest", what);
  d.size = get_field<int64_t>(j, "size", what, -1);
  d.annotations = j.value("annotations", json::object());
  d.platform = j.value("platform", json::object());
  if (!d.annotations.is_object()) d.annotations = json::object();
  if (!d.platform.is_object()) d.platform = json::object();
  if (!is_sha256_digest(d.digest)) {
    if (d.digest.find(':') != std::string::npos && !d.digest.starts_with(kSha256Prefix)) {
      throw ImageError(what + ": unsupported digest algorithm in '" + d.digest + "'");
    }
    throw ImageError(what + ": invalid digest '" + d.digest + "'");
  }
  return d;
}

std::string blob_path(std::string_view digest) {
  return "blobs/sha256/" + std::string(digest_hex(digest));
}

std::string digest_mismatch(const std::string& what, std::string_view want, std::string_view got) {
  return what + ": digest mismatch: expected " + std::string(want) + ", content is " +
         std::string(got);
}

// A JSON blob of the layout, verified before it is parsed.
json read_blob_json(int root, const Descriptor& d, const std::string& what) {
  const std::string text = read_json_file(root, blob_path(d.digest), what + " " + d.digest);
  if (d.size >= 0 && static_cast<uint64_t>(d.size) != text.size()) {
    throw ImageError(what + " " + d.digest + ": size mismatch: expected " + std::to_string(d.size) +
                     " bytes, blob has " + std::to_string(text.size()));
  }
  const std::string got = std::string(kSha256Prefix) + sha256_hex(text);
  if (got != d.digest) throw ImageError(digest_mismatch(what + " " + d.digest, d.digest, got));
  return parse_json(text, what + " " + d.digest);
}

std::vector<std::string> string_list(const json& j, std::string_view key, const std::string& what) {
  return get_field<std::vector<std::string>>(j, key, what);
}

ImageConfig parse_image_config(const json& j, const std::string& what,
                               std::vector<std::string>* warnings) {
  if (!j.is_object()) throw ImageError(what + ": expected a JSON object");
  const std::string os = get_field<std::string>(j, "os", what);
  const std::string arch = get_field<std::string>(j, "architecture", what);
  if (!os.empty() && os != "linux") throw ImageError(what + ": image is for " + os + ", not linux");
  if (!arch.empty() && arch != host_arch() && warnings != nullptr) {
    warnings->push_back(what + ": image is for " + arch + ", this host is " +
                        std::string(host_arch()));
  }
  ImageConfig config;
  const auto it = j.find("config");
  if (it == j.end() || it->is_null()) return config;
  const std::string sub = what + " config";
  config.entrypoint = string_list(*it, "Entrypoint", sub);
  config.cmd = string_list(*it, "Cmd", sub);
  config.env = string_list(*it, "Env", sub);
  config.working_dir = get_field<std::string>(*it, "WorkingDir", sub);
  config.user = get_field<std::string>(*it, "User", sub);
  return config;
}

std::string describe(const Descriptor& d) {
  std::string out = d.digest.substr(0, 19);
  if (const auto it = d.annotations.find(kRefNameAnnotation);
      it != d.annotations.end() && it->is_string()) {
    out += " (" + it->get<std::string>() + ")";
  }
  const std::string os = d.platform.value("os", "");
  const std::string arch = d.platform.value("architecture", "");
  if (!os.empty() || !arch.empty()) out += " " + os + "/" + arch;
  return out;
}

bool names_reference(const Descriptor& d, const std::string& reference) {
  for (const std::string_view key : {kRefNameAnnotation, kContainerdNameAnnotation}) {
    const auto it = d.annotations.find(key);
    if (it != d.annotations.end() && it->is_string() && it->get<std::string>() == reference) {
      return true;
    }
  }
  return false;
}

bool for_this_platform(const Descriptor& d) {
  return d.platform.value("os", "") == "linux" &&
         d.platform.value("architecture", "") == host_arch();
}

// The index's manifest for `reference` (matching its ref.name annotation)
// when one is given; else the one for this platform; else the only one;
// else the one named by a hint.
Descriptor select_manifest(const json& index, const std::string& reference,
                           const std::vector<std::string>& hints, const std::string& what) {
  const auto it = index.is_object() ? index.find("manifests") : index.end();
  if (it == index.end() || !it->is_array() || it->empty()) {
    throw ImageError(what + ": lists no manifests");
  }
  std::vector<Descriptor> all;
  for (const json& m : *it) all.push_back(parse_descriptor(m, what + " manifest entry"));
  std::vector<Descriptor> candidates;
  if (!reference.empty()) {
    for (const Descriptor& d : all) {
      if (names_reference(d, reference)) candidates.push_back(d);
    }
  } else {
    candidates = all;
  }
  if (candidates.size() > 1) {
    std::vector<Descriptor> native;
    for (const Descriptor& d : candidates) {
      if (for_this_platform(d)) native.push_back(d);
    }
    if (native.size() == 1) candidates = native;
  }
  if (candidates.size() > 1 && reference.empty()) {
    std::vector<Descriptor> named;
    for (const Descriptor& d : candidates) {
      if (std::any_of(hints.begin(), hints.end(),
                      [&](const std::string& h) { return names_reference(d, h); })) {
        named.push_back(d);
      }
    }
    if (named.size() == 1) candidates = named;
  }
  if (candidates.size() == 1) return candidates.front();
  std::string available;
  for (const Descriptor& d : all) available += (available.empty() ? "" : ", ") + describe(d);
  if (candidates.empty()) {
    throw ImageError(what + ": no image named '" + reference + "' (has: " + available + ")");
  }
  throw ImageError(what + ": holds several images and none is the only linux/" +
                   std::string(host_arch()) +
                   " one; pick one with PATH:REFERENCE (has: " + available + ")");
}

bool is_index(const Descriptor& d, const json& blob) {
  return d.media_type == kOciIndexType || d.media_type == kDockerListType ||
         (blob.is_object() && blob.contains("manifests") && !blob.contains("layers"));
}

// The OCI media type of a docker archive's layer, from its first bytes.
// Compressed layers (docker save of a containerd-store image keeps them as
// pulled) have a digest that is not their diff_id.
std::string_view layer_media_type(int fd, bool* compressed) {
  unsigned char magic[6] = {};
  const ssize_t n = pread(fd, magic, sizeof magic, 0);
  *compressed = true;
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    return "application/vnd.oci.image.layer.v1.tar+gzip";
  }
  if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  if ((n >= 3 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h') ||
      (n == 6 && std::memcmp(magic,
                             "\xfd"
                             "7zXZ\0",
                             6) == 0)) {
    return "application/octet-stream";
  }
  *compressed = false;
  return "application/vnd.oci.image.layer.v1.tar";
}

// A docker archive names blobs by path; some paths carry the digest
// ("<hex>.json" configs, "blobs/sha256/<hex>" in newer archives).
std::optional<std::string> digest_in_path(std::string_view path) {
  std::string_view base =
      path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  if (base.ends_with(".json")) base.remove_suffix(5);
  const std::string candidate = std::string(kSha256Prefix) + std::string(base);
  if (is_sha256_digest(candidate)) return candidate;
  return std::nullopt;
}

}  // namespace

ImageSourceSpec parse_image_source_spec(std::string_view text) {
  ImageSourceSpec spec;
  struct Prefix {
    std::string_view prefix;
    ImageSourceSpec::Kind kind;
  };
  static constexpr Prefix kPrefixes[] = {
      {"oci:", ImageSourceSpec::Kind::kOciLayout},
      {"oci-archive:", ImageSourceSpec::Kind::kOciArchive},
      {"docker-archive:", ImageSourceSpec::Kind::kDockerArchive},
  };
  for (const Prefix& p : kPrefixes) {
    if (!text.starts_with(p.prefix)) continue;
    // As skopeo reads it: the path ends at the first colon.
    text.remove_prefix(p.prefix.size());
    spec.kind = p.kind;
    const size_t colon = text.find(':');
    spec.path = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) spec.reference = std::string(text.substr(colon + 1));
    return spec;
  }
  spec.path = std::string(text);
  struct stat st {};
  if (stat(spec.path.c_str(), &st) != 0) {
    if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
      spec.path = std::string(text.substr(0, colon));
      spec.reference = std::string(text.substr(colon + 1));
    }
  }
  return spec;
}

ImageSource ImageSource::open(const std::string& text, const std::string& scratch_dir,
                              std::vector<std::string>* warnings,
                              const std::vector<std::string>& name_hints) {
  const ImageSourceSpec spec = parse_image_source_spec(text);
  ImageSource src;
  src.description_ = spec.path;
  struct stat st {};
  if (spec.path.empty() || stat(spec.path.c_str(), &st) != 0) {
    throw ImageError(spec.path + ": " + (spec.path.empty() ? "no path given" : errno_text()));
  }
  if (S_ISDIR(st.st_mode)) {
    if (spec.kind == ImageSourceSpec::Kind::kOciArchive ||
        spec.kind == ImageSourceSpec::Kind::kDockerArchive) {
      throw ImageError(spec.path + ": is a directory, not an archive");
    }
    src.root_.reset(::open(spec.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src.root_) throw ImageError(spec.path + ": " + errno_text());
  } else {
    if (spec.kind == ImageSourceSpec::Kind::kOciLayout) {
      throw ImageError(spec.path + ": is not a directory (an oci: layout is one)");
    }
    // An archive is extracted as a layer without whiteouts: same guards
    // against hostile paths, and its blobs become plain files to verify.
    const UniqueFd tar(::open(spec.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!tar) throw ImageError(spec.path + ": " + errno_text());
    src.root_.reset(::open(scratch_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src.root_) throw ImageError(scratch_dir + ": " + errno_text());
    unpack_layer(src.root_.get(), tar.get(), "archive " + spec.path,
                 {.whiteouts = false, .keep_owners = false}, warnings);
  }

  const bool oci = exists_in_root(src.root_.get(), "oci-layout");
  const bool docker = exists_in_root(src.root_.get(), "manifest.json");
  if (spec.kind == ImageSourceSpec::Kind::kDockerArchive && docker) {
    src.load_docker(spec.reference, name_hints, warnings);
  } else if (oci) {
    src.load_oci(spec.reference, name_hints, warnings);
  } else if (docker) {
    src.load_docker(spec.reference, name_hints, warnings);
  } else {
    throw ImageError(spec.path +
                     ": neither an OCI image layout (no oci-layout file) nor a docker save "
                     "archive (no manifest.json)");
  }
  return src;
}

void ImageSource::load_oci(const std::string& reference, const std::vector<std::string>& hints,
                           std::vector<std::string>* warnings) {
  const int root = root_.get();
  const std::string where = description_;
  const json layout =
      parse_json(read_json_file(root, "oci-layout", where + "/oci-layout"), where + "/oci-layout");
  const std::string version =
      get_field<std::string>(layout, "imageLayoutVersion", where + "/oci-layout");
  if (!version.starts_with("1.")) {
    throw ImageError(where + "/oci-layout: unsupported imageLayoutVersion '" + version + "'");
  }
  json index =
      parse_json(read_json_file(root, "index.json", where + "/index.json"), where + "/index.json");
  Descriptor chosen = select_manifest(index, reference, hints, where + "/index.json");
  json manifest;
  // index.json may point at a nested index (skopeo copy --all, multi-arch
  // images): there the platform decides.
  for (int depth = 0;; ++depth) {
    json blob = read_blob_json(root, chosen, where + ": manifest");
    if (!is_index(chosen, blob)) {
      manifest = std::move(blob);
      break;
    }
    if (depth == kMaxIndexDepth) throw ImageError(where + ": image indexes nested too deep");
    chosen = select_manifest(blob, "", {}, where + ": index " + chosen.digest);
  }
  manifest_digest_ = chosen.digest;
  const std::string mwhat = where + ": manifest " + chosen.digest;

  const auto cfg_it = manifest.is_object() ? manifest.find("config") : manifest.end();
  if (cfg_it == manifest.end()) throw ImageError(mwhat + ": no config");
  const Descriptor cfg = parse_descriptor(*cfg_it, mwhat + " config");
  if (!cfg.media_type.empty() && cfg.media_type != "application/vnd.oci.image.config.v1+json" &&
      cfg.media_type != "application/vnd.docker.container.image.v1+json") {
    throw ImageError(mwhat + ": not a container image (config media type " + cfg.media_type + ")");
  }
  config_ = parse_image_config(read_blob_json(root, cfg, where + ": config"),
                               where + ": config " + cfg.digest, warnings);

  const auto layers = manifest.find("layers");
  if (layers == manifest.end() || !layers->is_array()) throw ImageError(mwhat + ": no layers");
  for (const json& l : *layers) {
    const Descriptor d = parse_descriptor(l, mwhat + " layer");
    if (d.media_type.find("encrypted") != std::string::npos) {
      throw ImageError(mwhat + ": layer " + d.digest + " is encrypted (" + d.media_type + ")");
    }
    layers_.push_back(
        {blob_path(d.digest), d.digest, d.size >= 0 ? static_cast<uint64_t>(d.size) : UINT64_MAX});
  }
}

void ImageSource::load_docker(const std::string& reference, const std::vector<std::string>& hints,
                              std::vector<std::string>* warnings) {
  const int root = root_.get();
  const std::string where = description_ + "/manifest.json";
  const json list = parse_json(read_json_file(root, "manifest.json", where), where);
  if (!list.is_array() || list.empty()) throw ImageError(where + ": lists no images");

  // As for an OCI index: the image tagged `reference`, else the only one,
  // else the one a hint names.
  std::vector<const json*> matches;
  std::vector<const json*> hinted;
  std::string available;
  for (const json& image : list) {
    const auto tags = get_field<std::vector<std::string>>(image, "RepoTags", where);
    for (const std::string& t : tags) available += (available.empty() ? "" : ", ") + t;
    const auto tagged = [&](const std::string& name) {
      return std::find(tags.begin(), tags.end(), name) != tags.end();
    };
    if (!reference.empty() && !tagged(reference)) continue;
    matches.push_back(&image);
    if (std::any_of(hints.begin(), hints.end(), tagged)) hinted.push_back(&image);
  }
  if (matches.size() > 1 && reference.empty() && hinted.size() == 1) matches = hinted;
  if (matches.empty()) {
    throw ImageError(where + ": no image tagged '" + reference + "' (has: " + available + ")");
  }
  if (matches.size() > 1) {
    throw ImageError(
        where + ": holds several images; pick one with PATH:NAME:TAG (has: " + available + ")");
  }
  const json* chosen = matches.front();

  const std::string config_path = get_field<std::string>(*chosen, "Config", where);
  if (config_path.empty()) throw ImageError(where + ": image has no Config");
  const std::string cwhat = description_ + "/" + config_path;
  const std::string config_text = read_json_file(root, config_path, cwhat);
  const std::string config_digest = std::string(kSha256Prefix) + sha256_hex(config_text);
  if (const auto named = digest_in_path(config_path); named && *named != config_digest) {
    throw ImageError(digest_mismatch(cwhat, *named, config_digest));
  }
  const json config = parse_json(config_text, cwhat);
  config_ = parse_image_config(config, cwhat, warnings);

  // The config lists the sha256 of each uncompressed layer tar (diff_ids):
  // that is the check for layers whose path carries no digest.
  std::vector<std::string> diff_ids;
  if (const auto rootfs = config.find("rootfs"); rootfs != config.end() && rootfs->is_object()) {
    diff_ids = get_field<std::vector<std::string>>(*rootfs, "diff_ids", cwhat + " rootfs");
  }
  const auto paths = get_field<std::vector<std::string>>(*chosen, "Layers", where);
  if (!diff_ids.empty() && diff_ids.size() != paths.size()) {
    throw ImageError(cwhat + ": lists " + std::to_string(diff_ids.size()) + " layers, " + where +
                     " " + std::to_string(paths.size()));
  }

  json manifest_layers = json::array();
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string lwhat = description_ + "/" + paths[i];
    const UniqueFd fd = open_in_root(root, paths[i], lwhat);
    uint64_t size = 0;
    const std::string digest = sha256_digest_of_fd(fd.get(), lwhat, &size);
    bool compressed = false;
    const std::string_view media_type = layer_media_type(fd.get(), &compressed);
    if (const auto named = digest_in_path(paths[i]); named && *named != digest) {
      throw ImageError(digest_mismatch(lwhat, *named, digest));
    }
    if (!diff_ids.empty() && !compressed && diff_ids[i] != digest) {
      throw ImageError(
          digest_mismatch(lwhat + " (diff_id " + std::to_string(i + 1) + ")", diff_ids[i], digest));
    }
    layers_.push_back({paths[i], digest, size});
    manifest_layers.push_back({{"mediaType", media_type}, {"digest", digest}, {"size", size}});
  }
  // Canonical (nlohmann sorts keys; no whitespace), so the digest is a
  // function of the content alone.
  const json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", config_digest},
        {"size", config_text.size()}}},
      {"layers", manifest_layers},
  };
  manifest_digest_ = std::string(kSha256Prefix) + sha256_hex(manifest.dump());
}

std::string ImageSource::layer_name(size_t i) const {
  return "layer " + std::to_string(i + 1) + "/" + std::to_string(layers_.size()) + " (" +
         layers_[i].digest + ")";
}

UniqueFd ImageSource::open_layer(size_t i) const {
  const Layer& layer = layers_.at(i);
  const std::string what = description_ + ": " + layer_name(i);
  UniqueFd fd = open_in_root(root_.get(), layer.path, what);
  // Verified before a single header is parsed: libarchive only ever sees
  // the bytes the manifest vouches for.
  uint64_t size = 0;
  const std::string digest = sha256_digest_of_fd(fd.get(), what, &size);
  if (digest != layer.digest) throw ImageError(digest_mismatch(what, layer.digest, digest));
  if (layer.size != UINT64_MAX && size != layer.size) {
    throw ImageError(what + ": size mismatch: expected " + std::to_string(layer.size) +
                     " bytes, blob has " + std::to_string(size));
  }
  return fd;
}

}  // namespace fnr
