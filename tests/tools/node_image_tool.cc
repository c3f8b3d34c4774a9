// fn-test-node-image NODE_DIR CACHE_DIR HANDLER: builds (or finds cached)
// the OCI layout of a Node FDK function from tests/node, prints its path.
// For scripts (bench.sh) that want the same image the tests run.
#include <cstdio>
#include <exception>

#include "tests/support/node_image.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: fn-test-node-image NODE_DIR CACHE_DIR HANDLER\n");
    return 2;
  }
  const fnr::test_support::NodeImageSource src{.node_dir = argv[1], .cache_dir = argv[2]};
  if (const std::string why = fnr::test_support::node_image_unavailable(src); !why.empty()) {
    std::fprintf(stderr, "fn-test-node-image: unavailable: %s\n", why.c_str());
    return 3;
  }
  try {
    std::printf("%s\n", fnr::test_support::node_image_layout(src, argv[3]).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fn-test-node-image: %s\n", e.what());
    return 1;
  }
  return 0;
}
