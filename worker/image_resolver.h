#pragma once
// Maps a call's `image` to what to execute. Until the image store exists,
// an image is a directory <images_dir>/<ref>/ holding an executable `run`.
#include <optional>
#include <string>
#include <string_view>

namespace fnr {

struct ResolvedImage {
  std::string dir;
  std::string entrypoint;
};

// nullopt with `error` set when the reference is malformed or unknown.
std::optional<ResolvedImage> resolve_image(std::string_view images_dir, std::string_view ref,
                                           std::string* error);

// A reference is [A-Za-z0-9._/:@-]+ with no empty, "." or ".." path
// element, so it can never name anything outside the images directory.
bool is_safe_image_ref(std::string_view ref);

}  // namespace fnr
