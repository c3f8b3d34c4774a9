#pragma once
// Mutual TLS from FN_NODE_CERT / FN_NODE_CERT_KEY / FN_NODE_CERT_AUTHORITY:
// the client must present a certificate signed by the authority. Without
// them the runner serves plaintext (and says so loudly).
#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "shared/config.h"

namespace fnr {
// Throws std::runtime_error naming the file that could not be read.
std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const TlsConfig& tls);
}  // namespace fnr
