#include "tests/support/oci_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "shared/sha256.h"

namespace fnr::test_support {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Fixed, so a layer built twice is the same bytes (gzip headers aside).
constexpr time_t kMtime = 1700000000;

using WriterPtr = std::unique_ptr<archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

la_ssize_t append_to_string(archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

void check(archive* a, int rc, const std::string& what) {
  if (rc < ARCHIVE_WARN) {
    throw std::runtime_error("oci_builder: " + what + ": " +
                             (archive_error_string(a) ? archive_error_string(a) : "?"));
  }
}

std::string digest_of(std::string_view content) {
  return std::string(kSha256Prefix) + sha256_hex(content);
}

std::string hex_of(std::string_view digest) { return std::string(digest_hex(digest)); }

std::string_view layer_media_type(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::kZstd:
      return "application/vnd.oci.image.layer.v1.tar+zstd";
    case Compression::kNone:
      break;
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

std::string image_config(const ImageSpec& spec, const std::vector<std::string>& diff_ids) {
  json config = json::object();
  if (!spec.entrypoint.empty()) config["Entrypoint"] = spec.entrypoint;
  if (!spec.cmd.empty()) config["Cmd"] = spec.cmd;
  if (!spec.env.empty()) config["Env"] = spec.env;
  if (!spec.working_dir.empty()) config["WorkingDir"] = spec.working_dir;
  if (!spec.user.empty()) config["User"] = spec.user;
  // Fields a real config has and the store drops, to prove it does.
  config["Labels"] = {{"test", "oci_builder"}};
  return json{{"architecture", spec.architecture},
              {"os", spec.os},
              {"config", config},
              {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
              {"history", json::array({{{"created_by", "oci_builder"}}})}}
      .dump();
}

// A tar of plain files, for archives whose entries are whole files.
std::string tar_of_files(const std::vector<std::pair<std::string, std::string>>& files) {
  Layer layer;
  layer.compression = Compression::kNone;
  for (const auto& [name, content] : files)
    layer.entries.push_back(LayerEntry::file(name, content));
  return layer_tar(layer);
}

}  // namespace

namespace {

LayerEntry make_entry(LayerEntry::Type type, std::string path, mode_t mode) {
  LayerEntry e;
  e.type = type;
  e.path = std::move(path);
  e.mode = mode;
  return e;
}

}  // namespace

LayerEntry LayerEntry::file(std::string path, std::string content, mode_t mode) {
  LayerEntry e = make_entry(Type::kFile, std::move(path), mode);
  e.content = std::move(content);
  return e;
}

LayerEntry LayerEntry::host_file(std::string path, const std::string& host_path) {
  struct stat st {};
  if (stat(host_path.c_str(), &st) != 0) {
    throw std::runtime_error("oci_builder: cannot stat " + host_path);
  }
  return file(std::move(path), read_file(host_path), st.st_mode & 07777);
}

LayerEntry LayerEntry::dir(std::string path, mode_t mode) {
  return make_entry(Type::kDir, std::move(path), mode);
}

LayerEntry LayerEntry::symlink(std::string path, std::string target) {
  LayerEntry e = make_entry(Type::kSymlink, std::move(path), 0777);
  e.target = std::move(target);
  return e;
}

LayerEntry LayerEntry::hardlink(std::string path, std::string target) {
  LayerEntry e = make_entry(Type::kHardlink, std::move(path), 0644);
  e.target = std::move(target);
  return e;
}

LayerEntry LayerEntry::whiteout(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string dir(slash == std::string_view::npos ? "" : path.substr(0, slash + 1));
  const std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
  return file(dir + ".wh." + name, "");
}

LayerEntry LayerEntry::opaque(std::string_view dir) {
  std::string d(dir);
  if (!d.empty() && d.back() != '/') d += '/';
  return file(d + ".wh..wh..opq", "");
}

LayerEntry LayerEntry::char_device(std::string path, unsigned major, unsigned minor) {
  LayerEntry e = make_entry(Type::kCharDevice, std::move(path), 0666);
  e.dev_major = major;
  e.dev_minor = minor;
  return e;
}

LayerEntry LayerEntry::block_device(std::string path, unsigned major, unsigned minor) {
  LayerEntry e = make_entry(Type::kBlockDevice, std::move(path), 0660);
  e.dev_major = major;
  e.dev_minor = minor;
  return e;
}

LayerEntry LayerEntry::fifo(std::string path) {
  return make_entry(Type::kFifo, std::move(path), 0644);
}

std::string layer_tar(const Layer& layer) {
  std::string out;
  const WriterPtr a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  switch (layer.compression) {
    case Compression::kGzip:
      check(a.get(), archive_write_add_filter_gzip(a.get()), "gzip filter");
      break;
    case Compression::kZstd:
      check(a.get(), archive_write_add_filter_zstd(a.get()), "zstd filter");
      break;
    case Compression::kNone:
      break;
  }
  // No padding to 10 KiB records beyond what tar needs.
  archive_write_set_bytes_in_last_block(a.get(), 1);
  check(a.get(), archive_write_open(a.get(), &out, nullptr, append_to_string, nullptr), "open");
  for (const LayerEntry& e : layer.entries) {
    const EntryPtr entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.path.c_str());
    archive_entry_set_uid(entry.get(), e.uid);
    archive_entry_set_gid(entry.get(), e.gid);
    archive_entry_set_mtime(entry.get(), kMtime, 0);
    archive_entry_set_perm(entry.get(), e.mode);
    switch (e.type) {
      case LayerEntry::Type::kFile:
        archive_entry_set_filetype(entry.get(), AE_IFREG);
        archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.content.size()));
        break;
      case LayerEntry::Type::kDir:
        archive_entry_set_filetype(entry.get(), AE_IFDIR);
        break;
      case LayerEntry::Type::kSymlink:
        archive_entry_set_filetype(entry.get(), AE_IFLNK);
        archive_entry_set_symlink(entry.get(), e.target.c_str());
        break;
      case LayerEntry::Type::kHardlink:
        archive_entry_set_filetype(entry.get(), AE_IFREG);
        archive_entry_set_hardlink(entry.get(), e.target.c_str());
        archive_entry_set_size(entry.get(), 0);
        break;
      case LayerEntry::Type::kCharDevice:
      case LayerEntry::Type::kBlockDevice:
        archive_entry_set_filetype(entry.get(),
                                   e.type == LayerEntry::Type::kCharDevice ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdev(entry.get(), makedev(e.dev_major, e.dev_minor));
        break;
      case LayerEntry::Type::kFifo:
        archive_entry_set_filetype(entry.get(), AE_IFIFO);
        break;
    }
    check(a.get(), archive_write_header(a.get(), entry.get()), "header " + e.path);
    if (e.type == LayerEntry::Type::kFile && !e.content.empty()) {
      if (archive_write_data(a.get(), e.content.data(), e.content.size()) !=
          static_cast<la_ssize_t>(e.content.size())) {
        check(a.get(), ARCHIVE_FATAL, "data " + e.path);
      }
    }
  }
  check(a.get(), archive_write_close(a.get()), "close");
  return out;
}

Layer busybox_layer(const std::string& host_busybox) {
  Layer layer;
  layer.entries.push_back(LayerEntry::dir("bin"));
  layer.entries.push_back(LayerEntry::host_file("bin/busybox", host_busybox));
  for (const char* applet : {"sh", "echo", "cat", "env", "ls", "sleep", "true", "false"}) {
    layer.entries.push_back(LayerEntry::symlink(std::string("bin/") + applet, "busybox"));
  }
  return layer;
}

OciLayoutBuilder::OciLayoutBuilder(std::string dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_ + "/blobs/sha256");
  write_file(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  write_file(dir_ + "/index.json", R"({"schemaVersion":2,"manifests":[]})");
}

std::string OciLayoutBuilder::write_blob(std::string_view content) {
  const std::string digest = digest_of(content);
  write_file(blob_path(digest), content);
  return digest;
}

std::string OciLayoutBuilder::blob_path(std::string_view digest) const {
  return dir_ + "/blobs/sha256/" + hex_of(digest);
}

BuiltImage OciLayoutBuilder::add(const ImageSpec& spec) {
  BuiltImage built;
  json layers = json::array();
  for (const Layer& layer : spec.layers) {
    Layer plain = layer;
    plain.compression = Compression::kNone;
    built.diff_ids.push_back(digest_of(layer_tar(plain)));
    const std::string blob = layer_tar(layer);
    const std::string digest = write_blob(blob);
    built.layer_digests.push_back(digest);
    layers.push_back({{"mediaType", layer_media_type(layer.compression)},
                      {"digest", digest},
                      {"size", blob.size()}});
  }
  const std::string config = image_config(spec, built.diff_ids);
  built.config_digest = write_blob(config);
  const std::string manifest = json{
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", built.config_digest},
        {"size", config.size()}}},
      {"layers", layers}}.dump();
  built.manifest_digest = write_blob(manifest);

  json descriptor = {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"digest", built.manifest_digest},
                     {"size", manifest.size()}};
  if (!spec.ref_name.empty()) {
    descriptor["annotations"] = {{"org.opencontainers.image.ref.name", spec.ref_name}};
  }
  if (spec.platform_in_index) {
    descriptor["platform"] = {{"os", spec.os}, {"architecture", spec.architecture}};
  }
  index_entries_.push_back(descriptor.dump());
  json index = {{"schemaVersion", 2}, {"manifests", json::array()}};
  for (const std::string& d : index_entries_) index["manifests"].push_back(json::parse(d));
  write_file(dir_ + "/index.json", index.dump());
  return built;
}

void write_tar_of_dir(const std::string& dir, const std::string& tar_path) {
  Layer layer;
  layer.compression = Compression::kNone;
  std::vector<fs::path> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir)) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths) {
    const std::string rel = fs::relative(p, dir).string();
    if (fs::is_symlink(fs::symlink_status(p))) {
      layer.entries.push_back(LayerEntry::symlink(rel, fs::read_symlink(p).string()));
    } else if (fs::is_directory(p)) {
      layer.entries.push_back(LayerEntry::dir(rel));
    } else {
      layer.entries.push_back(LayerEntry::file(rel, read_file(p.string())));
    }
  }
  write_file(tar_path, layer_tar(layer));
}

BuiltImage write_docker_archive(const std::string& tar_path, const ImageSpec& spec,
                                const std::string& repo_tag) {
  BuiltImage built;
  std::vector<std::pair<std::string, std::string>> files;
  json layer_paths = json::array();
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    Layer plain = spec.layers[i];
    plain.compression = Compression::kNone;
    const std::string tar = layer_tar(plain);
    built.diff_ids.push_back(digest_of(tar));
    built.layer_digests.push_back(built.diff_ids.back());
    // Docker < 25 names layer directories by a v1 id, not a content digest.
    const std::string dir = "layer" + std::to_string(i);
    files.emplace_back(dir + "/VERSION", "1.0");
    files.emplace_back(dir + "/json", "{}");
    files.emplace_back(dir + "/layer.tar", tar);
    layer_paths.push_back(dir + "/layer.tar");
  }
  const std::string config = image_config(spec, built.diff_ids);
  built.config_digest = digest_of(config);
  const std::string config_name = hex_of(built.config_digest) + ".json";
  files.emplace_back(config_name, config);
  files.emplace_back(
      "manifest.json",
      json::array({{{"Config", config_name}, {"RepoTags", {repo_tag}}, {"Layers", layer_paths}}})
          .dump());
  const size_t colon = repo_tag.rfind(':');
  files.emplace_back(
      "repositories",
      json{{repo_tag.substr(0, colon), {{repo_tag.substr(colon + 1), hex_of(built.config_digest)}}}}
          .dump());
  write_file(tar_path, tar_of_files(files));
  return built;
}

void write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("oci_builder: cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("oci_builder: cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string make_temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string templ =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("oci_builder: mkdtemp " + templ);
  return templ;
}

void remove_all(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

}  // namespace fnr::test_support
