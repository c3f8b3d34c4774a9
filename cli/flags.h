#pragma once
// Flag value parsing shared by the subcommands; errors name the flag so a
// typo in a long command line is easy to find.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "client/lb_client.h"

namespace fnr::cli {

template <typename T>
bool parse_number(std::string_view flag, std::string_view text, T* out) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    std::fprintf(stderr, "fn-runnerctl: --%.*s wants a number, got '%.*s'\n",
                 static_cast<int>(flag.size()), flag.data(), static_cast<int>(text.size()),
                 text.data());
    return false;
  }
  *out = value;
  return true;
}

// --ca/--cert/--key/--server-name, shared by every command that dials.
struct TlsFlags {
  client::TlsFiles files;
  bool any = false;

  // True if `flag` was one of ours.
  bool take(std::string_view flag, const char* value) {
    if (flag == "ca") {
      files.ca = value;
    } else if (flag == "cert") {
      files.cert = value;
    } else if (flag == "key") {
      files.key = value;
    } else if (flag == "server-name") {
      files.server_name = value;
    } else {
      return false;
    }
    any = true;
    return true;
  }
  [[nodiscard]] std::optional<client::TlsFiles> tls() const {
    return any ? std::optional(files) : std::nullopt;
  }
};

inline constexpr std::string_view kTlsHelp =
    R"(  --ca FILE              PEM CA that signed the runner's certificate (enables TLS)
  --cert FILE --key FILE client certificate and key (Fn LBs present one)
  --server-name NAME     name to check in the runner's certificate
)";

}  // namespace fnr::cli
