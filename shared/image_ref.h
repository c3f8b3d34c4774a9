#pragma once
// Image references as Fn calls name them: NAME[:TAG][@sha256:HEX], or a bare
// sha256:HEX. NAME is slash-separated components (the first may carry a
// registry port, as in localhost:5000/app); no TAG means "latest". Names are
// taken literally: "hello" and "docker.io/library/hello" are different refs.
#include <optional>
#include <string>
#include <string_view>

namespace fnr {

struct ImageRef {
  std::string name;    // empty only for a bare digest
  std::string tag;     // "latest" when not given; kept but unused when a digest is given
  std::string digest;  // "sha256:..." or empty

  [[nodiscard]] bool by_digest() const { return !digest.empty(); }
  // NAME:TAG, or NAME@DIGEST / DIGEST when pinned by digest.
  [[nodiscard]] std::string canonical() const;
};

// nullopt with `error` ("invalid image reference 'X': why") when malformed.
std::optional<ImageRef> parse_image_ref(std::string_view text, std::string* error);

// A file name (no '/', never "." or "..", at most 255 bytes) that maps one to
// one to NAME:TAG, for the store's refs/ directory: bytes outside
// [A-Za-z0-9._-] become %XX.
std::string ref_file_name(const ImageRef& ref);

}  // namespace fnr
