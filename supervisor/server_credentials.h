#pragma once
// Mutual TLS from FN_NODE_CERT / FN_NODE_CERT_KEY / FN_NODE_CERT_AUTHORITY:
// the client must present a certificate signed by the authority. Without
// them the runner serves plaintext (and says so loudly).
//
// The certificates can be replaced while the runner serves (SIGHUP): gRPC's
// SSL server credentials ask a certificate-config fetcher for news at every
// new handshake, and ServerTls hands over the files read at the last
// successful reload. Connections already open keep the certificate they
// were made with, so calls in flight are not disturbed.
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "shared/config.h"

namespace fnr {

// The PEM text of the server's certificate chain, its key and the client
// authority, read and checked together.
struct TlsMaterial {
  std::string cert_chain;
  std::string key;
  std::string authority;
};

// Reads the three files and checks that each parses as PEM and that the key
// belongs to the certificate, so a broken set is refused before gRPC sees it.
// Throws std::runtime_error naming the file and what is wrong with it.
[[nodiscard]] TlsMaterial read_tls_material(const TlsConfig& tls);

class ServerTls {
 public:
  // Throws as read_tls_material() does.
  explicit ServerTls(const TlsConfig& tls);
  ~ServerTls() = default;
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // Credentials for the listening port; `this` must outlive the server.
  [[nodiscard]] std::shared_ptr<grpc::ServerCredentials> credentials();
  // New handshakes present `material` from now on. Thread-safe.
  void update(TlsMaterial material);

 private:
  static grpc_ssl_certificate_config_reload_status fetch(
      void* self, grpc_ssl_server_certificate_config** config);

  std::mutex mu_;
  std::optional<TlsMaterial> pending_;  // not yet taken by gRPC
};

// Plaintext credentials (with a warning) when `tls` is not enabled, else
// `server_tls`'s (which must then be non-null).
std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const TlsConfig& tls,
                                                                 ServerTls* server_tls);

}  // namespace fnr
