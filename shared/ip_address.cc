#include "shared/ip_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace fnr {

std::optional<IpEndpoint> parse_ip_endpoint(std::string_view text, std::string* error) {
  const auto fail = [&](const char* why) -> std::optional<IpEndpoint> {
    *error = "\"" + std::string(text) + "\" is not IP:PORT (" + why + ")";
    return std::nullopt;
  };
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return fail("no port");
  std::string host(text.substr(0, colon));
  const std::string_view port_text = text.substr(colon + 1);
  uint16_t port = 0;
  const char* end = port_text.data() + port_text.size();
  auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  if (port_text.empty() || ec != std::errc() || ptr != end) return fail("bad port");

  IpEndpoint ep;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) return fail("bad IPv6 address");
    std::memcpy(&ep.addr, &a, sizeof a);
    ep.len = sizeof a;
    return ep;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    return fail("bad IPv4 address; IPv6 goes in brackets");
  }
  std::memcpy(&ep.addr, &a, sizeof a);
  ep.len = sizeof a;
  return ep;
}

}  // namespace fnr
