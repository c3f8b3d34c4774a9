#pragma once
// Types every part of the image store speaks: what an image asks of the
// process that runs it, and the one error type import/resolve failures use.
#include <stdexcept>
#include <string>
#include <vector>

namespace fnr {

// The part of an OCI image config a runner needs; the rest (history, labels,
// exposed ports, ...) is dropped at import.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string working_dir;
  std::string user;
};

// Carries a message meant for an operator: it names the file, blob or
// archive entry at fault.
class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace fnr
