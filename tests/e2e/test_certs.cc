#include "tests/e2e/test_certs.h"

#include <cstdlib>
#include <fstream>

namespace fnr::e2e {
namespace {

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

}  // namespace

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

bool make_ca(const std::string& dir, const std::string& name) {
  return run(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
      " -subj /CN=" +
      name + "-ca -keyout " + dir + "/" + name + "-ca.key -out " + dir + "/" + name +
      "-ca.crt -addext basicConstraints=critical,CA:TRUE"
      " -addext keyUsage=critical,keyCertSign,cRLSign");
}

bool make_leaf(const std::string& dir, const std::string& ca, const std::string& leaf,
               const std::string& extensions) {
  const std::string base = dir + "/" + leaf;
  return write_file(base + ".ext", extensions) &&
         run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" +
             leaf + " -keyout " + base + ".key -out " + base + ".csr") &&
         run("openssl x509 -req -days 2 -in " + base + ".csr -CA " + dir + "/" + ca +
             "-ca.crt -CAkey " + dir + "/" + ca + "-ca.key -CAcreateserial -out " + base +
             ".crt -extfile " + base + ".ext");
}

}  // namespace fnr::e2e
