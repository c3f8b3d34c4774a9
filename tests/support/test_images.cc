#include "tests/support/test_images.h"

#include <filesystem>

#include "shared/image_store.h"
#include "tests/support/oci_builder.h"

namespace fnr::test_support {

void import_binary_image(const std::string& images_dir, const std::string& ref,
                         const std::string& host_binary, const std::vector<std::string>& env) {
  const std::string name = std::filesystem::path(host_binary).filename();
  ImageSpec spec;
  spec.layers.push_back(busybox_layer());
  Layer fn;
  fn.entries.push_back(LayerEntry::dir("function"));
  LayerEntry bin = LayerEntry::host_file("function/" + name, host_binary);
  bin.mode = 0755;
  fn.entries.push_back(bin);
  spec.layers.push_back(fn);
  spec.entrypoint = {"/function/" + name};
  spec.env = env;
  spec.working_dir = "/function";

  const std::string layout = make_temp_dir("image-" + name);
  OciLayoutBuilder(layout).add(spec);
  ImageStore(images_dir).import(layout, ref);
  remove_all(layout);
}

}  // namespace fnr::test_support
