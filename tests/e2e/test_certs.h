#pragma once
// Real certificates for the TLS tests, made with the openssl command line
// (EC P-256, valid two days) in a test's temp dir.
#include <string>

namespace fnr::e2e {

// A CA at <dir>/<name>-ca.{crt,key}.
bool make_ca(const std::string& dir, const std::string& name);

// <dir>/<leaf>.{crt,key}, signed by <dir>/<ca>-ca, with `extensions`
// (openssl x509 -extfile lines: subjectAltName, extendedKeyUsage).
bool make_leaf(const std::string& dir, const std::string& ca, const std::string& leaf,
               const std::string& extensions);

// A server certificate for 127.0.0.1 / localhost.
inline constexpr const char* kServerExtensions =
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
inline constexpr const char* kClientExtensions = "extendedKeyUsage=clientAuth\n";

bool write_file(const std::string& path, const std::string& text);

}  // namespace fnr::e2e
