#include "shared/image_ref.h"

#include <cstdio>

#include "shared/sha256.h"

namespace fnr {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_component_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }

bool valid_component(std::string_view part) {
  if (part.empty() || part == "." || part == "..") return false;
  for (char c : part) {
    if (!is_component_char(c)) return false;
  }
  return true;
}

// Slash-separated components; only the first may end in ":PORT", and only
// when more components follow (otherwise the colon starts a tag).
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  size_t start = 0;
  bool first = true;
  for (;;) {
    const size_t slash = name.find('/', start);
    std::string_view part =
        name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (first && slash != std::string_view::npos) {
      if (const size_t colon = part.find(':'); colon != std::string_view::npos) {
        const std::string_view port = part.substr(colon + 1);
        if (port.empty()) return false;
        for (char c : port) {
          if (c < '0' || c > '9') return false;
        }
        part = part.substr(0, colon);
      }
    }
    if (!valid_component(part)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
    first = false;
  }
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength || tag[0] == '.' || tag[0] == '-') return false;
  for (char c : tag) {
    if (!is_component_char(c)) return false;
  }
  return true;
}

}  // namespace

std::string ImageRef::canonical() const {
  if (by_digest()) return name.empty() ? digest : name + "@" + digest;
  return name + ":" + tag;
}

std::optional<ImageRef> parse_image_ref(std::string_view text, std::string* error) {
  const auto fail = [&](std::string_view why) -> std::optional<ImageRef> {
    if (error != nullptr)
      *error = "invalid image reference '" + std::string(text) + "': " + std::string(why);
    return std::nullopt;
  };
  ImageRef ref;
  std::string_view rest = text;
  if (text.starts_with(kSha256Prefix)) {
    if (!is_sha256_digest(text)) return fail("a digest is sha256: and 64 lowercase hex digits");
    ref.digest = std::string(text);
    return ref;
  }
  if (const size_t at = rest.find('@'); at != std::string_view::npos) {
    const std::string_view digest = rest.substr(at + 1);
    if (!is_sha256_digest(digest)) return fail("a digest is sha256: and 64 lowercase hex digits");
    ref.digest = std::string(digest);
    rest = rest.substr(0, at);
  }
  const size_t last_slash = rest.rfind('/');
  const size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    const std::string_view tag = rest.substr(colon + 1);
    if (!valid_tag(tag))
      return fail("a tag is up to 128 of [A-Za-z0-9_.-], not starting with . or -");
    ref.tag = std::string(tag);
    rest = rest.substr(0, colon);
  } else {
    ref.tag = "latest";
  }
  if (!valid_name(rest)) {
    return fail("a name is /-separated components of [A-Za-z0-9._-] (the first may end in :PORT)");
  }
  ref.name = std::string(rest);
  return ref;
}

std::string ref_file_name(const ImageRef& ref) {
  // Always NAME:TAG: digest-pinned references never get a ref file.
  const std::string text = ref.name + ":" + ref.tag;
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    if (is_component_char(c)) {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  // NAME (<= 255) plus TAG (<= 128) can exceed NAME_MAX once escaped.
  if (out.size() > 250) out = "long%" + sha256_hex(text);
  return out;
}

}  // namespace fnr
