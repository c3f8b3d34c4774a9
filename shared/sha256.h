#pragma once
// SHA-256 as OCI digests use it ("sha256:" + 64 lowercase hex digits).
#include <cstdint>
#include <string>
#include <string_view>

// OpenSSL's EVP_MD_CTX, so its headers stay out of ours.
struct evp_md_ctx_st;

namespace fnr {

inline constexpr std::string_view kSha256Prefix = "sha256:";

// Incremental hasher; owns its OpenSSL context.
class Sha256 {
 public:
  Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  ~Sha256();

  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // 64 lowercase hex digits. The hasher is spent afterwards.
  std::string hex();

 private:
  ::evp_md_ctx_st* ctx_;
};

std::string sha256_hex(std::string_view data);

// "sha256:" + hex of everything in `fd` from offset 0 (read with pread, so
// the file offset is untouched); `size` gets the byte count. Throws
// ImageError naming `what` on a read error.
std::string sha256_digest_of_fd(int fd, std::string_view what, uint64_t* size);

// "sha256:" followed by exactly 64 lowercase hex digits.
[[nodiscard]] bool is_sha256_digest(std::string_view digest);

// The hex part of a valid digest (callers check is_sha256_digest first).
inline std::string_view digest_hex(std::string_view digest) {
  return digest.substr(kSha256Prefix.size());
}

}  // namespace fnr
