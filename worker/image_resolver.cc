#include "worker/image_resolver.h"

#include <sys/stat.h>
#include <unistd.h>

namespace fnr {

bool is_safe_image_ref(std::string_view ref) {
  if (ref.empty() || ref.size() > 255) return false;
  for (char c : ref) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '/' || c == ':' || c == '@' || c == '-';
    if (!ok) return false;
  }
  size_t start = 0;
  while (start <= ref.size()) {
    const size_t end = std::min(ref.find('/', start), ref.size());
    const std::string_view part = ref.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::optional<ResolvedImage> resolve_image(std::string_view images_dir, std::string_view ref,
                                           std::string* error) {
  if (!is_safe_image_ref(ref)) {
    *error = "invalid image reference '" + std::string(ref) + "'";
    return std::nullopt;
  }
  ResolvedImage img;
  img.dir = std::string(images_dir) + "/" + std::string(ref);
  img.entrypoint = img.dir + "/run";
  struct stat st {};
  if (stat(img.entrypoint.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      access(img.entrypoint.c_str(), X_OK) != 0) {
    *error = "image not found: " + std::string(ref);
    return std::nullopt;
  }
  return img;
}

}  // namespace fnr
