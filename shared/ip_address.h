#pragma once
// "IPv4:PORT" and "[IPv6]:PORT" literals, as listening addresses are
// configured (metrics_address). No name lookup: a listening address that
// depends on DNS at start-up is a surprise waiting to happen.
#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace fnr {

struct IpEndpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  [[nodiscard]] bool is_v6() const { return addr.ss_family == AF_INET6; }
  [[nodiscard]] const sockaddr* sockaddr_ptr() const {
    return reinterpret_cast<const sockaddr*>(&addr);
  }
};

// nullopt with `error` saying why when `text` is not an address literal
// and a port (0 allowed: any free port).
[[nodiscard]] std::optional<IpEndpoint> parse_ip_endpoint(std::string_view text,
                                                          std::string* error);

}  // namespace fnr
