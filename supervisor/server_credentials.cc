#include "supervisor/server_credentials.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fnr {
namespace {

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read ") + what + " '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const TlsConfig& tls) {
  if (!tls.enabled()) {
    spdlog::warn("no FN_NODE_CERT/FN_NODE_CERT_KEY/FN_NODE_CERT_AUTHORITY: serving plaintext gRPC");
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = read_file(tls.authority, "certificate authority");
  opts.pem_key_cert_pairs.push_back(
      {read_file(tls.key, "certificate key"), read_file(tls.cert, "certificate")});
  return grpc::SslServerCredentials(opts);
}

}  // namespace fnr
