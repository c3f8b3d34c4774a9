#include "tests/support/node_image.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "shared/image_store.h"
#include "shared/sha256.h"
#include "tests/support/oci_builder.h"

extern char** environ;

namespace fnr::test_support {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bumped whenever the image's shape changes, so cached layouts are rebuilt.
constexpr const char* kLayoutVersion = "fnr-node-image 1";

std::string find_on_path(const std::string& name) {
  const char* env_path = std::getenv("PATH");
  std::istringstream dirs(
      env_path != nullptr && *env_path != '\0' ? env_path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

struct RunResult {
  int wait_status = 0;
  std::string output;  // stdout and stderr, interleaved
  [[nodiscard]] bool ok() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }
};

// Runs `argv` (posix_spawn: the test process has threads) in `cwd` with our
// environment and stdin from /dev/null; collects its output.
RunResult run(const std::vector<std::string>& argv, const std::string& cwd = "") {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("node_image: pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc != 0) {
    close(pipe_fds[0]);
    throw std::runtime_error("node_image: cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  RunResult result;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buf, sizeof buf);
    if (n > 0) {
      result.output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(pipe_fds[0]);
  while (waitpid(pid, &result.wait_status, 0) < 0 && errno == EINTR) {
  }
  return result;
}

// Identifies a host file's version cheaply: path, size and mtime.
std::string file_stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw std::runtime_error("node_image: cannot stat " + path);
  return path + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + "\n";
}

std::string short_key(std::string_view material) { return sha256_hex(material).substr(0, 16); }

// Moves a finished temp dir to `final_dir`; another process that finished
// the same entry first wins, and ours is dropped.
void publish(const std::string& tmp_dir, const std::string& final_dir) {
  if (rename(tmp_dir.c_str(), final_dir.c_str()) == 0) return;
  const int err = errno;
  remove_all(tmp_dir);
  if (!fs::exists(final_dir)) {
    throw std::runtime_error("node_image: rename to " + final_dir + ": " + std::strerror(err));
  }
}

std::string make_dir_in(const std::string& parent, const std::string& prefix) {
  fs::create_directories(parent);
  std::string templ = parent + "/.tmp-" + prefix + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("node_image: mkdtemp " + templ + ": " + std::strerror(errno));
  }
  return templ;
}

// npm ci from the lockfile, once per lockfile: <cache>/node_modules-<key>.
std::string ensure_node_modules(const NodeImageSource& src, std::string* key_out) {
  const std::string package_json = read_file(src.node_dir + "/package.json");
  const std::string lockfile = read_file(src.node_dir + "/package-lock.json");
  const std::string key = short_key(package_json + '\0' + lockfile);
  *key_out = key;
  const std::string final_dir = src.cache_dir + "/node_modules-" + key;
  if (fs::is_directory(final_dir + "/node_modules")) return final_dir + "/node_modules";

  const std::string npm = find_on_path("npm");
  if (npm.empty()) throw std::runtime_error("node_image: npm is not on PATH");
  const std::string tmp = make_dir_in(src.cache_dir, "npm");
  write_file(tmp + "/package.json", package_json);
  write_file(tmp + "/package-lock.json", lockfile);
  const RunResult r = run({npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts",
                           "--no-update-notifier", "--cache", src.cache_dir + "/npm-cache"},
                          tmp);
  if (!r.ok() || !fs::is_directory(tmp + "/node_modules/@fnproject/fdk")) {
    remove_all(tmp);
    throw std::runtime_error("node_image: npm ci in a copy of " + src.node_dir +
                             " failed (wait status " + std::to_string(r.wait_status) + "):\n" +
                             r.output);
  }
  publish(tmp, final_dir);
  return final_dir + "/node_modules";
}

// Adds `host_dir`'s tree below `image_dir` (files, dirs, symlinks as they
// are), in sorted order so the layer is reproducible.
void add_tree(Layer& layer, const std::string& host_dir, const std::string& image_dir) {
  std::vector<fs::path> paths;
  for (const auto& e : fs::recursive_directory_iterator(host_dir)) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  layer.entries.push_back(LayerEntry::dir(image_dir));
  for (const fs::path& p : paths) {
    const std::string in_image = image_dir + "/" + fs::relative(p, host_dir).string();
    const fs::file_status st = fs::symlink_status(p);
    if (fs::is_symlink(st)) {
      layer.entries.push_back(LayerEntry::symlink(in_image, fs::read_symlink(p).string()));
    } else if (fs::is_directory(st)) {
      layer.entries.push_back(LayerEntry::dir(in_image));
    } else if (fs::is_regular_file(st)) {
      LayerEntry file = LayerEntry::host_file(in_image, p.string());
      file.mode = (file.mode & 0111) != 0 ? 0755 : 0644;
      layer.entries.push_back(std::move(file));
    }
  }
}

// usr/bin/node and the runtime files at their host paths, with every
// parent directory as an entry of its own.
Layer runtime_layer(const std::string& node, const std::vector<std::string>& runtime_files) {
  Layer layer;
  layer.compression = Compression::kNone;  // imported by every test: gzip would dominate
  std::set<std::string> dirs = {"usr", "usr/bin"};
  for (const std::string& f : runtime_files) {
    for (fs::path d = fs::path(f.substr(1)).parent_path(); !d.empty(); d = d.parent_path()) {
      dirs.insert(d.string());
    }
  }
  for (const std::string& d : dirs) layer.entries.push_back(LayerEntry::dir(d));
  LayerEntry node_entry = LayerEntry::host_file("usr/bin/node", node);
  node_entry.mode = 0755;
  layer.entries.push_back(std::move(node_entry));
  for (const std::string& f : runtime_files) {
    // host_file reads through symlinks (libc.so.6 -> libc-2.36.so and the like).
    LayerEntry lib = LayerEntry::host_file(f.substr(1), f);
    lib.mode = (lib.mode & 0111) != 0 ? 0755 : 0644;
    layer.entries.push_back(std::move(lib));
  }
  return layer;
}

std::string blob_file(const std::string& layout, std::string_view digest) {
  return layout + "/blobs/sha256/" + std::string(digest.substr(kSha256Prefix.size()));
}

std::string write_blob(const std::string& layout, const std::string& content) {
  const std::string digest = std::string(kSha256Prefix) + sha256_hex(content);
  write_file(blob_file(layout, digest), content);
  return digest;
}

// `base`'s only image plus one more (uncompressed) layer, as a new layout
// in `out`: the base's layer blobs are hard links, so the runtime's 100 MB
// are neither tarred nor stored again per handler.
void derive_layout(const std::string& base, const std::string& out, const Layer& extra,
                   const std::string& what) {
  const json index = json::parse(read_file(base + "/index.json"));
  json manifest = json::parse(
      read_file(blob_file(base, index.at("manifests").at(0).at("digest").get<std::string>())));
  json config = json::parse(
      read_file(blob_file(base, manifest.at("config").at("digest").get<std::string>())));
  fs::create_directories(out + "/blobs/sha256");
  write_file(out + "/oci-layout", read_file(base + "/oci-layout"));
  for (const json& layer : manifest.at("layers")) {
    const std::string digest = layer.at("digest").get<std::string>();
    std::error_code ec;
    fs::create_hard_link(blob_file(base, digest), blob_file(out, digest), ec);
    if (ec) fs::copy_file(blob_file(base, digest), blob_file(out, digest));
  }
  const std::string tar = layer_tar(extra);
  const std::string layer_digest = write_blob(out, tar);
  config["rootfs"]["diff_ids"].push_back(layer_digest);
  config["history"].push_back({{"created_by", "node_image: " + what}});
  const std::string config_json = config.dump();
  manifest["config"]["digest"] = write_blob(out, config_json);
  manifest["config"]["size"] = config_json.size();
  manifest["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                {"digest", layer_digest},
                                {"size", tar.size()}});
  const std::string manifest_json = manifest.dump();
  const json descriptor = {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                           {"digest", write_blob(out, manifest_json)},
                           {"size", manifest_json.size()}};
  write_file(out + "/index.json",
             json{{"schemaVersion", 2}, {"manifests", json::array({descriptor})}}.dump());
}

// node, its libraries and the FDK, without a handler: built once per node
// and lockfile, the base every handler's layout derives from.
std::string base_layout(const NodeImageSource& src, std::string* key_out) {
  const std::string node = host_node_binary();
  if (node.empty()) throw std::runtime_error("node_image: node is not on PATH");
  const std::vector<std::string> runtime_files = node_runtime_files(node);
  std::string modules_key;
  const std::string node_modules = ensure_node_modules(src, &modules_key);

  std::string material = std::string(kLayoutVersion) + "\n" + file_stamp(node);
  for (const std::string& f : runtime_files) material += file_stamp(fs::canonical(f).string());
  material += modules_key;
  *key_out = short_key(material);
  const std::string layouts = src.cache_dir + "/layouts";
  const std::string final_dir = layouts + "/base-" + *key_out;
  if (fs::exists(final_dir + "/index.json")) return final_dir;

  ImageSpec spec;
  spec.layers.push_back(runtime_layer(node, runtime_files));
  Layer fdk;
  fdk.compression = Compression::kNone;
  fdk.entries.push_back(LayerEntry::dir("function"));
  fdk.entries.push_back(
      LayerEntry::host_file("function/package.json", src.node_dir + "/package.json"));
  add_tree(fdk, node_modules, "function/node_modules");
  spec.layers.push_back(std::move(fdk));
  spec.entrypoint = {"/usr/bin/node", "/function/func.js"};
  // The loader finds the libraries in its default directories; listing
  // their directories keeps that true for a node whose host resolves some
  // through ld.so.conf (the image has no ld.so.cache).
  std::set<std::string> lib_dirs;
  for (const std::string& f : runtime_files) lib_dirs.insert(fs::path(f).parent_path().string());
  std::string ld_path;
  for (const std::string& d : lib_dirs) ld_path += (ld_path.empty() ? "" : ":") + d;
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LD_LIBRARY_PATH=" + ld_path};
  spec.working_dir = "/function";

  const std::string tmp = make_dir_in(layouts, "base");
  try {
    OciLayoutBuilder(tmp).add(spec);
  } catch (...) {
    remove_all(tmp);
    throw;
  }
  publish(tmp, final_dir);
  return final_dir;
}

}  // namespace

std::string host_node_binary() {
  const std::string found = find_on_path("node");
  if (found.empty()) return "";
  std::error_code ec;
  const fs::path real = fs::canonical(found, ec);
  return ec ? found : real.string();
}

std::string node_image_unavailable(const NodeImageSource& src) {
  if (host_node_binary().empty()) return "node is not on PATH (scripts/setup.sh installs it)";
  if (find_on_path("npm").empty()) return "npm is not on PATH (scripts/setup.sh installs it)";
  if (!fs::exists(src.node_dir + "/package-lock.json")) {
    return "no lockfile at " + src.node_dir + "/package-lock.json";
  }
  return "";
}

std::vector<std::string> node_runtime_files(const std::string& node_binary) {
  const RunResult r = run({"ldd", node_binary});
  if (!r.ok()) {
    // A static node needs nothing else.
    if (r.output.find("not a dynamic executable") != std::string::npos) return {};
    throw std::runtime_error("node_image: ldd " + node_binary + " failed:\n" + r.output);
  }
  // Lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)",
  // "/lib64/ld-linux-x86-64.so.2 (0x...)", "linux-vdso.so.1 (0x...)".
  std::vector<std::string> files;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("not found") != std::string::npos) {
      throw std::runtime_error("node_image: " + node_binary + " misses a library: " + line);
    }
    const size_t arrow = line.find("=> ");
    const size_t start = arrow != std::string::npos ? arrow + 3 : line.find_first_not_of(" \t");
    if (start == std::string::npos || start >= line.size() || line[start] != '/') continue;
    const size_t end = line.find(' ', start);
    std::string path = line.substr(start, end == std::string::npos ? end : end - start);
    if (std::find(files.begin(), files.end(), path) == files.end()) files.push_back(path);
  }
  if (files.empty()) throw std::runtime_error("node_image: ldd listed nothing:\n" + r.output);
  return files;
}

std::string node_image_layout(const NodeImageSource& src, const std::string& handler) {
  const std::string handler_js = read_file(src.node_dir + "/" + handler + ".js");
  std::string base_key;
  const std::string base = base_layout(src, &base_key);
  const std::string layouts = src.cache_dir + "/layouts";
  const std::string final_dir =
      layouts + "/" + handler + "-" + short_key(base_key + "\n" + handler + "\n" + handler_js);
  if (fs::exists(final_dir + "/index.json")) return final_dir;

  Layer fn;
  fn.compression = Compression::kNone;
  fn.entries.push_back(LayerEntry::file("function/func.js", handler_js, 0644));
  const std::string tmp = make_dir_in(layouts, handler);
  try {
    derive_layout(base, tmp, fn, handler);
  } catch (...) {
    remove_all(tmp);
    throw;
  }
  publish(tmp, final_dir);
  return final_dir;
}

void import_node_image(const std::string& images_dir, const std::string& ref,
                       const NodeImageSource& src, const std::string& handler) {
  ImageStore(images_dir).import(node_image_layout(src, handler), ref);
}

}  // namespace fnr::test_support
