// `fn-runnerctl image`: fill and inspect the runner's image store, since
// there is no container engine on the host to pull images with.
#include <getopt.h>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "shared/config.h"
#include "shared/image_store.h"

namespace fnr::cli {
namespace {

constexpr std::string_view kHelp =
    R"(usage: fn-runnerctl image import PATH --name REF [options]
       fn-runnerctl image ls [options]
       fn-runnerctl image rm REF [options]

  import PATH --name REF  unpack an image into the store under REF (NAME[:TAG]).
                          PATH is an OCI image layout directory (skopeo copy
                          ... oci:DIR:TAG), a tar of one (oci-archive), or a
                          docker save tar; oci:DIR:TAG, oci-archive:FILE:TAG and
                          docker-archive:FILE:NAME:TAG pick one image of several.
  ls                      list the images: ref, digest, size
  rm REF                  remove REF; its content goes when no other ref uses it

options:
  --images-dir DIR        the image store (default: images_dir of the runner's
                          config: --config, $FN_RUNNER_CONFIG, $FN_IMAGES_DIR)
  --config FILE           the runner's JSON config
)";

std::string size_text(uint64_t bytes) {
  char buf[32];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < (1ULL << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  } else if (bytes < (1ULL << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  }
  return buf;
}

// The same store the runner uses unless told otherwise.
std::optional<std::string> images_dir(const std::string& flag, const std::string& config_file) {
  if (!flag.empty()) return flag;
  std::vector<std::string> args;
  if (!config_file.empty()) args.push_back("--config=" + config_file);
  const ConfigLoad load = load_config(args);
  if (!load.config) {
    std::fprintf(stderr, "fn-runnerctl image: %s\n", load.error.c_str());
    return std::nullopt;
  }
  return load.config->images_dir;
}

int run_import(ImageStore& store, const std::string& path, const std::string& ref) {
  std::vector<std::string> warnings;
  const StoredImage image = store.import(path, ref, &warnings);
  for (const std::string& w : warnings) {
    std::fprintf(stderr, "fn-runnerctl image import: warning: %s\n", w.c_str());
  }
  std::printf("%s %s %s\n", image.ref.c_str(), image.digest.c_str(),
              size_text(image.size_bytes).c_str());
  return kExitOk;
}

int run_ls(const ImageStore& store) {
  const std::vector<StoredImage> images = store.list();
  std::printf("%-40s %-19s %s\n", "REF", "DIGEST", "SIZE");
  for (const StoredImage& image : images) {
    // sha256: plus 12 digits, as docker shortens image ids.
    std::printf("%-40s %-19s %s\n", image.ref.c_str(), image.digest.substr(0, 19).c_str(),
                size_text(image.size_bytes).c_str());
  }
  return kExitOk;
}

int run_rm(ImageStore& store, const std::string& ref) {
  if (!store.remove(ref)) {
    std::fprintf(stderr, "fn-runnerctl image rm: image not found: %s\n", ref.c_str());
    return kExitFailed;
  }
  std::printf("removed %s\n", ref.c_str());
  return kExitOk;
}

}  // namespace

int image_command(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kHelp.data(), stderr);
    return kExitUsage;
  }
  const std::string_view sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(kHelp.data(), stdout);
    return kExitOk;
  }
  if (sub != "import" && sub != "ls" && sub != "rm") {
    std::fprintf(stderr, "fn-runnerctl image: unknown command '%s'\n\n%s", argv[1], kHelp.data());
    return kExitUsage;
  }

  std::string name;
  std::string dir_flag;
  std::string config_file;
  static const std::vector<option> kOptions = long_options({
      {"name", required_argument, nullptr, 0},
      {"images-dir", required_argument, nullptr, 0},
      {"config", required_argument, nullptr, 0},
  });
  // The sub-subcommand is getopt's argv[0].
  const int sub_argc = argc - 1;
  char** sub_argv = argv + 1;
  const auto parsed = parse_long_options(sub_argc, sub_argv, kOptions, kHelp, {},
                                         [&](std::string_view flag, const char* v) {
                                           if (flag == "name") {
                                             name = v;
                                           } else if (flag == "images-dir") {
                                             dir_flag = v;
                                           } else {
                                             config_file = v;
                                           }
                                           return true;
                                         });
  if (parsed) return *parsed;
  const std::vector<std::string> positional(sub_argv + optind, sub_argv + sub_argc);
  const size_t want = sub == "ls" ? 0 : 1;
  if (positional.size() != want) {
    std::fprintf(stderr, "fn-runnerctl image %s: expected %s\n\n%s", argv[1],
                 want == 0 ? "no arguments" : (sub == "import" ? "PATH" : "REF"), kHelp.data());
    return kExitUsage;
  }
  if (sub == "import" && name.empty()) {
    std::fprintf(stderr, "fn-runnerctl image import: --name REF is required\n");
    return kExitUsage;
  }
  if (sub != "import" && !name.empty()) {
    std::fprintf(stderr, "fn-runnerctl image %s: --name is for import\n", argv[1]);
    return kExitUsage;
  }

  const std::optional<std::string> dir = images_dir(dir_flag, config_file);
  if (!dir) return kExitFailed;
  try {
    ImageStore store(*dir);
    if (sub == "import") return run_import(store, positional[0], name);
    if (sub == "ls") return run_ls(store);
    return run_rm(store, positional[0]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fn-runnerctl image %s: %s\n", argv[1], e.what());
    return kExitFailed;
  }
}

}  // namespace fnr::cli
