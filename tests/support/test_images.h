#pragma once
// Test images the way a user would make them: a static binary plus a static
// busybox, packed as a real OCI image layout and imported into a runner's
// image store with the store's own import.
#include <string>
#include <vector>

namespace fnr::test_support {

// Builds an OCI layout of busybox + `host_binary` at /function/<name> (the
// entrypoint) and imports it into the store at `images_dir` as `ref`.
// `env` becomes the image config's Env. Throws on failure.
void import_binary_image(const std::string& images_dir, const std::string& ref,
                         const std::string& host_binary,
                         const std::vector<std::string>& env = {"PATH=/bin"});

}  // namespace fnr::test_support
