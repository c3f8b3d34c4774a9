#include "bench/coldstart_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "shared/sha256.h"

namespace fnr::bench {
namespace {

using nlohmann::json;
using WriterPtr = std::unique_ptr<archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

constexpr time_t kMtime = 1700000000;  // fixed: the same inputs give the same digest

std::string read_host_file(const std::string& path, mode_t* mode) {
  struct stat st {};
  std::ifstream in(path, std::ios::binary);
  if (!in || stat(path.c_str(), &st) != 0) {
    throw std::runtime_error("coldstart image: cannot read " + path);
  }
  *mode = st.st_mode & 0755;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("coldstart image: cannot write " + path);
}

// An uncompressed tar in memory, entry by entry.
class TarWriter {
 public:
  TarWriter() : a_(archive_write_new(), archive_write_free) {
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    check(archive_write_open(a_.get(), &out_, nullptr, append, nullptr), "open");
  }

  void dir(const std::string& path, mode_t mode) { entry(path, AE_IFDIR, mode, {}, {}); }
  void symlink(const std::string& path, const std::string& target) {
    entry(path, AE_IFLNK, 0777, target, {});
  }
  void file(const std::string& path, mode_t mode, std::string_view content) {
    entry(path, AE_IFREG, mode, {}, content);
  }

  std::string finish() {
    check(archive_write_close(a_.get()), "close");
    return std::move(out_);
  }

 private:
  static la_ssize_t append(archive*, void* client, const void* buf, size_t n) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }

  void check(int rc, const std::string& what) {
    if (rc < ARCHIVE_WARN) {
      const char* why = archive_error_string(a_.get());
      throw std::runtime_error("coldstart image: tar " + what + ": " + (why ? why : "?"));
    }
  }

  void entry(const std::string& path, unsigned type, mode_t mode, const std::string& link,
             std::string_view content) {
    const EntryPtr e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), mode);
    archive_entry_set_mtime(e.get(), kMtime, 0);
    if (type == AE_IFLNK) archive_entry_set_symlink(e.get(), link.c_str());
    if (type == AE_IFREG) archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    check(archive_write_header(a_.get(), e.get()), "header " + path);
    if (!content.empty() && archive_write_data(a_.get(), content.data(), content.size()) !=
                                static_cast<la_ssize_t>(content.size())) {
      check(ARCHIVE_FATAL, "data " + path);
    }
  }

  std::string out_;
  WriterPtr a_;
};

// Stores `content` as a blob; returns its descriptor.
json write_blob(const std::string& dir, std::string_view media_type, std::string_view content) {
  const std::string hex = sha256_hex(content);
  write_file(dir + "/blobs/sha256/" + hex, content);
  return {{"mediaType", media_type},
          {"digest", std::string(kSha256Prefix) + hex},
          {"size", content.size()}};
}

}  // namespace

void write_echo_image_layout(const std::string& dir, const EchoImageFiles& files) {
  mode_t busybox_mode = 0;
  mode_t function_mode = 0;
  const std::string busybox = read_host_file(files.busybox, &busybox_mode);
  const std::string function = read_host_file(files.function, &function_mode);

  TarWriter tar;
  for (const char* d : {"bin", "dev", "function", "proc", "sys"}) tar.dir(d, 0755);
  tar.dir("tmp", 01777);
  tar.file("bin/busybox", busybox_mode, busybox);
  tar.symlink("bin/true", "busybox");
  tar.symlink("bin/sh", "busybox");
  tar.file(std::string(kEchoEntrypoint).substr(1), function_mode, function);
  const std::string layer = tar.finish();

  std::filesystem::create_directories(dir + "/blobs/sha256");
  const json layer_desc = write_blob(dir, "application/vnd.oci.image.layer.v1.tar", layer);
  const std::string config =
      json{{"architecture", "amd64"},
           {"os", "linux"},
           {"config",
            {{"Entrypoint", json::array({kEchoEntrypoint})},
             {"Env", json::array({"PATH=/bin"})},
             {"WorkingDir", "/"}}},
           {"rootfs", {{"type", "layers"}, {"diff_ids", json::array({layer_desc["digest"]})}}}}
          .dump();
  const json config_desc = write_blob(dir, "application/vnd.oci.image.config.v1+json", config);
  const std::string manifest = json{
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config", config_desc},
      {"layers",
       json::array({layer_desc})}}.dump();
  const json manifest_desc =
      write_blob(dir, "application/vnd.oci.image.manifest.v1+json", manifest);
  write_file(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  write_file(dir + "/index.json",
             json{{"schemaVersion", 2}, {"manifests", json::array({manifest_desc})}}.dump());
}

}  // namespace fnr::bench
