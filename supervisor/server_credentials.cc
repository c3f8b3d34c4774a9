#include "supervisor/server_credentials.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
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
  if (!in.good() && !in.eof()) {
    throw std::runtime_error(std::string("cannot read ") + what + " '" + path + "'");
  }
  return ss.str();
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (e == 0) return "no PEM data";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate in `pem` (the leaf of a chain, or the first CA).
X509Ptr first_certificate(const std::string& pem, const std::string& path, const char* what) {
  ERR_clear_error();
  const BioPtr bio = memory_bio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    throw std::runtime_error(std::string(what) + " '" + path +
                             "' holds no PEM certificate: " + openssl_error());
  }
  return cert;
}

// Exposes the fetcher-backed C credentials to grpc::ServerBuilder, which
// only takes grpc::ServerCredentials; the port is added exactly as
// grpc::SslServerCredentials does it.
class FetcherServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit FetcherServerCredentials(grpc_server_credentials* creds) : creds_(creds) {}
  ~FetcherServerCredentials() override { grpc_server_credentials_release(creds_); }
  FetcherServerCredentials(const FetcherServerCredentials&) = delete;
  FetcherServerCredentials& operator=(const FetcherServerCredentials&) = delete;

  // The runner installs no auth metadata processor; mTLS is the whole check.
  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {
    spdlog::error("TLS: auth metadata processors are not supported");
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }

  grpc_server_credentials* creds_;
};

}  // namespace

TlsMaterial read_tls_material(const TlsConfig& tls) {
  TlsMaterial m{read_file(tls.cert, "certificate"), read_file(tls.key, "certificate key"),
                read_file(tls.authority, "certificate authority")};
  const X509Ptr leaf = first_certificate(m.cert_chain, tls.cert, "certificate");
  first_certificate(m.authority, tls.authority, "certificate authority");
  ERR_clear_error();
  const BioPtr bio = memory_bio(m.key);
  const PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    throw std::runtime_error("certificate key '" + tls.key +
                             "' holds no PEM private key: " + openssl_error());
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("certificate key '" + tls.key + "' does not belong to certificate '" +
                             tls.cert + "'");
  }
  return m;
}

ServerTls::ServerTls(const TlsConfig& tls) : pending_(read_tls_material(tls)) {}

void ServerTls::update(TlsMaterial material) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_ = std::move(material);
}

// gRPC calls this when the credentials are made and then at every new
// handshake, from its own threads: a lock and an empty check in the usual
// case. gRPC owns the config we return and keeps its current one if the
// new one fails to load (it logs why).
grpc_ssl_certificate_config_reload_status ServerTls::fetch(
    void* self, grpc_ssl_server_certificate_config** config) {
  auto* tls = static_cast<ServerTls*>(self);
  std::optional<TlsMaterial> m;
  {
    std::lock_guard<std::mutex> lock(tls->mu_);
    if (!tls->pending_) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
    m = std::move(tls->pending_);
    tls->pending_.reset();
  }
  const grpc_ssl_pem_key_cert_pair pair{m->key.c_str(), m->cert_chain.c_str()};
  *config = grpc_ssl_server_certificate_config_create(m->authority.c_str(), &pair, 1);
  return *config != nullptr ? GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW
                            : GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
}

std::shared_ptr<grpc::ServerCredentials> ServerTls::credentials() {
  grpc_ssl_server_credentials_options* opts =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, &ServerTls::fetch, this);
  grpc_server_credentials* creds = grpc_ssl_server_credentials_create_with_options(opts);
  if (creds == nullptr) throw std::runtime_error("cannot create TLS server credentials");
  return std::make_shared<FetcherServerCredentials>(creds);
}

std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const TlsConfig& tls,
                                                                 ServerTls* server_tls) {
  if (!tls.enabled()) {
    spdlog::warn("no FN_NODE_CERT/FN_NODE_CERT_KEY/FN_NODE_CERT_AUTHORITY: serving plaintext gRPC");
    return grpc::InsecureServerCredentials();
  }
  return server_tls->credentials();
}

}  // namespace fnr
