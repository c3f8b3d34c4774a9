#pragma once
// Flag value parsing shared by the subcommands; errors name the flag so a
// typo in a long command line is easy to find.
#include <getopt.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
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

// A command's own long options followed by `extra` (say kTlsOptions),
// --help and the terminator getopt_long wants.
inline std::vector<option> long_options(std::initializer_list<option> own,
                                        std::initializer_list<option> extra = {}) {
  std::vector<option> all(own);
  all.insert(all.end(), extra);
  all.push_back({"help", no_argument, nullptr, 'h'});
  all.push_back({nullptr, 0, nullptr, 0});
  return all;
}

inline constexpr std::initializer_list<option> kTlsOptions = {
    {"ca", required_argument, nullptr, 0},
    {"cert", required_argument, nullptr, 0},
    {"key", required_argument, nullptr, 0},
    {"server-name", required_argument, nullptr, 0},
};

// Runs getopt_long over argv with `options` (from long_options): -h/--help
// prints `help` then `more_help` and gives kExitOk, a flag getopt rejects
// gives kExitUsage (getopt has said what was wrong), and every other flag
// goes to on_flag(name, value), whose false gives kExitUsage. std::nullopt
// once the flags are done, with optind at the first operand.
template <typename OnFlag>
std::optional<int> parse_long_options(int argc, char** argv, const std::vector<option>& options,
                                      std::string_view help, std::string_view more_help,
                                      OnFlag on_flag) {
  optind = 1;
  for (;;) {
    int index = -1;
    const int c = getopt_long(argc, argv, "h", options.data(), &index);
    if (c == -1) return std::nullopt;
    if (c == 'h') {
      std::fwrite(help.data(), 1, help.size(), stdout);
      std::fwrite(more_help.data(), 1, more_help.size(), stdout);
      return kExitOk;
    }
    if (c != 0) return kExitUsage;
    if (!on_flag(std::string_view(options[static_cast<size_t>(index)].name), optarg)) {
      return kExitUsage;
    }
  }
}

}  // namespace fnr::cli
