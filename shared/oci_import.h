#pragma once
// Reads an image to import: an OCI image layout (a directory, as `skopeo copy
// ... oci:DIR:TAG` writes, or a tar of one, `oci-archive:`), or a `docker
// save` archive (manifest.json + config + layer tars; also as a directory).
// Picks the manifest, verifies every blob against its sha256 digest before
// parsing it, and hands out the layers in order. Unpacking is not its job.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/image_types.h"
#include "shared/unique_fd.h"

namespace fnr {

// What the user typed: [oci:|oci-archive:|docker-archive:]PATH[:REFERENCE].
// Without a transport prefix the kind is detected (a directory with
// oci-layout or manifest.json, or a tar of one), and ":REFERENCE" is only
// split off when PATH itself does not exist.
struct ImageSourceSpec {
  enum class Kind { kDetect, kOciLayout, kOciArchive, kDockerArchive };
  Kind kind = Kind::kDetect;
  std::string path;
  std::string reference;  // picks one image of several (OCI ref.name annotation or RepoTags)
};
ImageSourceSpec parse_image_source_spec(std::string_view text);

class ImageSource {
 public:
  // `scratch_dir` is an empty directory a tar input is extracted into; the
  // caller removes it. Throws ImageError. `warnings` (may be null) gets
  // non-fatal oddities, such as an image built for another architecture.
  // `name_hints` (the NAME:TAG and TAG the image is imported as) break a tie
  // when `text` names no image of several and the platform does not decide.
  static ImageSource open(const std::string& text, const std::string& scratch_dir,
                          std::vector<std::string>* warnings,
                          const std::vector<std::string>& name_hints = {});

  // sha256 of the manifest. A docker save archive has none (or only an OCI
  // one when Docker >= 25 wrote it, which is then used): its digest is that
  // of a canonical OCI manifest made from its config and layer digests, so
  // importing the same archive twice gives the same digest.
  [[nodiscard]] const std::string& manifest_digest() const { return manifest_digest_; }
  [[nodiscard]] const ImageConfig& config() const { return config_; }
  [[nodiscard]] size_t layer_count() const { return layers_.size(); }
  // "layer 2/3 (sha256:...)", for messages.
  [[nodiscard]] std::string layer_name(size_t i) const;
  // The layer's blob, checked against its digest, at offset 0.
  [[nodiscard]] UniqueFd open_layer(size_t i) const;

 private:
  struct Layer {
    std::string path;  // relative to root_
    std::string digest;
    uint64_t size = 0;
  };

  ImageSource() = default;
  void load_oci(const std::string& reference, const std::vector<std::string>& hints,
                std::vector<std::string>* warnings);
  void load_docker(const std::string& reference, const std::vector<std::string>& hints,
                   std::vector<std::string>* warnings);

  UniqueFd root_;            // the layout directory (or the extracted archive)
  std::string description_;  // the user's path, for messages
  std::string manifest_digest_;
  ImageConfig config_;
  std::vector<Layer> layers_;
};

}  // namespace fnr
